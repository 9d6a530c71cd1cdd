// fake-cri serves k8s.io/cri-client's fake container runtime on a unix socket, so a real
// kubelet can run on a lab node without containerd. It runs until it is signalled.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cri-client/pkg/fake"
)

func main() {
	endpoint := flag.String("endpoint", "unix:///run/containerd/containerd.sock", "CRI endpoint to serve")
	flag.Parse()
	runtime := fake.NewFakeRemoteRuntime()
	if err := runtime.Start(*endpoint); err != nil {
		fmt.Fprintf(os.Stderr, "fake-cri: serving %s: %v\n", *endpoint, err)
		os.Exit(1)
	}
	fmt.Printf("fake-cri: serving %s\n", *endpoint)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	runtime.Stop()
}
