// Package nodump keeps a process that holds keys from leaving them in a
// core file: Disable sets RLIMIT_CORE to 0 and, on Linux, marks the process
// non-dumpable (which also refuses same-user ptrace; the process can still
// read its own /proc/self files).
package nodump
