// swift-tools-version:6.0
// aegis-exec: a sudo-style gate for the shell commands that AI agents run.
//
// Dependencies point one way: aegis-exec (and aegis-exec-tool) -> AegisCommandLine ->
// AegisRuntime -> AegisConfig -> AegisPolicy.
// AegisPolicy imports nothing but the standard library, so it can be tested
// exhaustively without a kernel, a terminal or a file system.
import PackageDescription

// Generic types our code uses at known arguments get their metadata built at
// compile time, not by the runtime on first use: the gate is a short process,
// and it measured 0.17 ms per command of first-use instantiation.
// Each function in a section of its own, so the linker can place the gate's
// hot functions together (see `gateLinking`).
let prespecialize: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-prespecialize-generic-metadata",
                                                   "-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors",
                                                   "-Xfrontend", "-disable-llvm-merge-functions-pass",
                                                   "-Xfrontend", "-function-sections"])]

// The gate's binary is linked with lld, hot functions first, in the order of
// Sources/aegis-exec/hot-functions.txt (scripts/order-functions writes it from
// traces and perf samples of the gate at work). A fresh process pays for every page of
// code it touches (a page fault here costs 2.5-4 us), and the functions a
// command runs were spread over most of the 9 MB of code. A function missing
// from the list, or a name the list has and the build no longer does, only
// costs that function's place, never correctness.
let packageDirectory = String(#filePath.dropLast("/Package.swift".count))
let gateLinking: [LinkerSetting] = [.unsafeFlags([
    "-use-ld=lld",
    "-Xlinker", "--symbol-ordering-file=\(packageDirectory)/Sources/aegis-exec/hot-functions.txt",
    "-Xlinker", "--no-warn-symbol-ordering",
])]

let package = Package(
    name: "aegis-exec",
    products: [
        .executable(name: "aegis-exec", targets: ["aegis-exec"]),
        .executable(name: "aegis-exec-tool", targets: ["aegis-exec-tool"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .systemLibrary(name: "CLibSQLite3", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .target(name: "CAegisSpawn"),
        .target(name: "CAegisSHA256"),
        // The gate's argc/argv straight from glibc, in place of the Swift
        // runtime's capture (see arguments.c); linked into the gate only.
        .target(name: "CAegisArguments"),
        .target(name: "AegisPolicy", swiftSettings: prespecialize),
        .target(
            name: "AegisConfig",
            dependencies: ["AegisPolicy", "CLibYAML"],
            resources: [.embedInCode("Templates"), .embedInCode("Compiled")],
            swiftSettings: prespecialize
        ),
        .target(
            name: "AegisRuntime",
            dependencies: ["AegisConfig", "AegisPolicy", "CLibSQLite3", "CLibSeccomp", "CAegisSpawn", "CAegisSHA256"],
            swiftSettings: prespecialize
        ),
        // What both executables share: the gate's own argument reading, its
        // messages and exit statuses.
        .target(name: "AegisCommandLine", dependencies: ["AegisRuntime", "AegisConfig", "AegisPolicy"], swiftSettings: prespecialize),
        // The gate every agent command starts: no argument parser, no Foundation.
        .executableTarget(name: "aegis-exec", dependencies: ["AegisCommandLine", "CAegisArguments"], exclude: ["hot-functions.txt"],
                          swiftSettings: prespecialize, linkerSettings: gateLinking),
        // Subcommands and help (swift-argument-parser), exec'd by the gate.
        .executableTarget(
            name: "aegis-exec-tool",
            dependencies: [
                "AegisCommandLine", "AegisRuntime", "AegisConfig", "AegisPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: prespecialize
        ),
        // Measures policy load and evaluation in-process (scripts/bench).
        .executableTarget(name: "aegis-bench", dependencies: ["AegisRuntime", "AegisConfig", "AegisPolicy"]),
        .testTarget(name: "AegisPolicyTests", dependencies: ["AegisPolicy"]),
        .testTarget(name: "AegisConfigTests", dependencies: ["AegisConfig", "AegisPolicy"]),
        .testTarget(name: "AegisRuntimeTests", dependencies: ["AegisRuntime", "AegisConfig", "AegisPolicy", "CLibSeccomp", "CAegisSpawn"]),
        .testTarget(name: "EndToEndTests", dependencies: ["AegisRuntime", "AegisPolicy"]),
    ]
)
