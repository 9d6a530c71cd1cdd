// Command pulumi-resource-random is the lab's stand-in for the pulumi-random plugin
// (RandomString and RandomPassword only), because the module proxy does not serve the real one.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"kubelet-bootstrap.lab/providers/internal/random"
)

// version is what GetPluginInfo reports; the default is the release this stands in for.
// Override with -ldflags "-X main.version=...".
var version = "4.21.4"

func main() {
	err := provider.Main("random", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return random.New(version)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
