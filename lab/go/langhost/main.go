// Command pulumi-language-python is the lab's own language host for Pulumi
// programs written in Python. The engine starts it as
//
//	pulumi-language-python [--logtostderr] [-v=N] [--tracing URL] <engine address>
//
// and reads one line from its stdout: the TCP port of the gRPC
// LanguageRuntime server it serves on 127.0.0.1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// execScript is the Python shim that runs a program; it must sit beside this binary.
const execScript = "pulumi-language-python-exec"

func main() {
	tracing := flag.String("tracing", "", "Zipkin-compatible tracing endpoint")
	executor := flag.String("use-executor", "", "Run programs with this script instead of the one beside the binary")
	// Accepted and ignored, as the engine and older CLIs may still pass them;
	// the runtime options in each request are what count.
	flag.String("virtualenv", "", "obsolete")
	flag.String("root", "", "obsolete")
	flag.String("typechecker", "", "obsolete")
	flag.String("toolchain", "", "obsolete")
	flag.Parse() // -v and -logtostderr are glog's flags, registered by the logging package.
	logging.InitLogging(false, 0, false)

	script, err := findExecScript(*executor)
	if err != nil {
		cmdutil.Exit(err)
	}

	var engineAddress string
	if flag.NArg() > 0 {
		engineAddress = flag.Arg(0)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	cancel := make(chan bool)
	go func() {
		<-ctx.Done()
		stop()
		close(cancel)
	}()

	// Stop serving once the engine goes away, so no host outlives its CLI.
	if engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start the engine health check: %w", err))
		}
	}

	host := newHost(script, engineAddress, *tracing)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start the language host RPC server: %w", err))
	}

	// The engine reads exactly this line to learn where to dial.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

// findExecScript returns the executor to run programs with: the given one, or
// pulumi-language-python-exec next to this binary.
func findExecScript(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("could not determine the current executable: %w", err)
	}
	script := filepath.Join(filepath.Dir(self), execScript)
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("missing executor %s: %w", script, err)
	}
	return script, nil
}
