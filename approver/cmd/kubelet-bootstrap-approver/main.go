// kubelet-bootstrap-approver approves the kubelet serving-certificate requests of the nodes a
// kubelet-bootstrap stack manages, as they come, with the policy the program's own approval
// applies (policy.Evaluate), and denies forged ones with the reason.
//
//	kubelet-bootstrap-approver run --kubeconfig FILE --inventory FILE [--health-address HOST:PORT]
//	kubelet-bootstrap-approver health [--address HOST:PORT]   (exit 0 when healthy)
//	kubelet-bootstrap-approver judge < cases.jsonl   (the verdicts, nothing written)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"kubelet-bootstrap/approver/internal/approver"
	"kubelet-bootstrap/approver/internal/health"
	"kubelet-bootstrap/approver/internal/kube"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "health":
		err = checkHealth(os.Args[2:])
	case "judge":
		err = judge(os.Stdin, os.Stdout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubelet-bootstrap-approver:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kubelet-bootstrap-approver run --kubeconfig FILE --inventory FILE [--health-address HOST:PORT]\n"+
		"       kubelet-bootstrap-approver health [--address HOST:PORT]\n"+
		"       kubelet-bootstrap-approver judge < cases.jsonl")
	os.Exit(2)
}

func run(args []string) error {
	flags := flag.NewFlagSet("run", flag.ContinueOnError)
	kubeconfig := flags.String("kubeconfig", "", "JSON kubeconfig of the approver's own identity")
	inventoryPath := flags.String("inventory", "", "the stack's inventory file, written by the program")
	healthAddress := flags.String("health-address", "127.0.0.1:10271", "where /healthz is served")
	resync := flags.Duration("resync", time.Minute, "how long a watch lasts before the CSRs are listed again")
	inventoryPoll := flags.Duration("inventory-poll", 5*time.Second, "how often the inventory file is read again")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" || *inventoryPath == "" {
		return errors.New("run needs --kubeconfig and --inventory")
	}
	client, err := kube.FromKubeconfig(*kubeconfig)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	a := &approver.Approver{
		API: client, InventoryPath: *inventoryPath, Log: log,
		Resync: *resync, InventoryPoll: *inventoryPoll,
	}
	listener, err := net.Listen("tcp", *healthAddress)
	if err != nil {
		return fmt.Errorf("health endpoint: %v", err)
	}
	server := &http.Server{
		Handler:           health.Handler(a.Snapshot, *resync+time.Minute),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = server.Serve(listener) }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	err = a.Run(ctx)
	_ = server.Close()
	if err == nil {
		log.Info("stopped")
	}
	return err
}

// checkHealth prints the running approver's health report; it fails unless it is healthy.
// The start script uses it: a master may have no curl.
func checkHealth(args []string) error {
	flags := flag.NewFlagSet("health", flag.ContinueOnError)
	address := flags.String("address", "127.0.0.1:10271", "where the approver serves /healthz")
	if err := flags.Parse(args); err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	response, err := client.Get("http://" + *address + "/healthz")
	if err != nil {
		return err
	}
	defer response.Body.Close()
	body, err := io.ReadAll(io.LimitReader(response.Body, 64<<10))
	if err != nil {
		return err
	}
	fmt.Print(string(body))
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy (HTTP %d)", response.StatusCode)
	}
	return nil
}
