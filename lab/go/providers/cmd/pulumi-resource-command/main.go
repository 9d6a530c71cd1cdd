// Command pulumi-resource-command is the lab's stand-in for the pulumi-command plugin
// (command:remote:Command and command:remote:CopyToRemote only), because the module proxy
// here does not serve the real one.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"kubelet-bootstrap.lab/providers/internal/command"
	"kubelet-bootstrap.lab/providers/internal/rpc"
)

// version is what GetPluginInfo reports; the default is the release this stands in for.
// Override with -ldflags "-X main.version=...".
var version = "1.2.1"

func main() {
	err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return command.New(version, func(ctx context.Context, urn string) command.Logger {
			return rpc.NewEngineLog(ctx, host, urn)
		})
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
