// The same in static Swift: what the Swift runtime's start-up adds to the C floor.
import Glibc
execv(CommandLine.unsafeArgv[1]!, CommandLine.unsafeArgv + 1)
exit(127)
