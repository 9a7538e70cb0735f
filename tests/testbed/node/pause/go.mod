// The test bed's pause program: the sandbox container's process. It holds the
// pod's namespaces open and exits on SIGTERM or SIGINT. Standard library only.
module sitehapair.io/testbed/node/pause

go 1.26.0
