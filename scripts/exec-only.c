// The least a wrapper can do: exec its arguments. Built static, its added time
// against bare exec is the floor for any static C front end on this machine.
#include <unistd.h>
int main(int argc, char **argv) { (void)argc; execv(argv[1], argv + 1); return 127; }
