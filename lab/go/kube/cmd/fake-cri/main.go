// fake-cri serves k8s.io/cri-client's fake container runtime on a unix socket, so a real
// kubelet can run on a lab node without containerd. It runs until it is signalled.
//
// With -network-ready=false it reports the pod network as not ready, as a runtime does on a
// new cluster before its CNI plugin is installed: the kubelet then registers a NotReady Node.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-client/pkg/fake"
)

func main() {
	endpoint := flag.String("endpoint", "unix:///run/containerd/containerd.sock", "CRI endpoint to serve")
	networkReady := flag.Bool("network-ready", true, "report the pod network (CNI) as ready")
	flag.Parse()
	runtime := fake.NewFakeRemoteRuntime()
	if err := runtime.Start(*endpoint); err != nil {
		fmt.Fprintf(os.Stderr, "fake-cri: serving %s: %v\n", *endpoint, err)
		os.Exit(1)
	}
	runtime.RuntimeService.FakeStatus = &runtimeapi.RuntimeStatus{
		Conditions: []*runtimeapi.RuntimeCondition{
			{Type: runtimeapi.RuntimeReady, Status: true},
			{Type: runtimeapi.NetworkReady, Status: *networkReady},
		},
	}
	fmt.Printf("fake-cri: serving %s (network ready: %t)\n", *endpoint, *networkReady)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
	runtime.Stop()
}
