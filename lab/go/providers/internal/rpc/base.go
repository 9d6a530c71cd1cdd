package rpc

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Base implements the provider-level RPCs of a provider without configuration.
// Resource RPCs are left to the embedding provider; anything else stays Unimplemented,
// which the engine reports as an error instead of a silent success.
type Base struct {
	pulumirpc.UnimplementedResourceProviderServer
	Version  string
	Schema   []byte
	canceler *Canceler
}

// NewBase returns a Base reporting version and serving schema.
func NewBase(version string, schema []byte) Base {
	return Base{Version: version, Schema: schema, canceler: NewCanceler()}
}

// Handshake announces what the provider understands: secrets must arrive as secrets so
// that they stay secret in outputs (pulumi-go-provider does the same).
func (b *Base) Handshake(
	context.Context, *pulumirpc.ProviderHandshakeRequest,
) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true, AcceptResources: true}, nil
}

// GetPluginInfo reports the version the binary was built as.
func (b *Base) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: b.Version}, nil
}

// GetSchema returns the package schema.
func (b *Base) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	if req.GetSubpackageName() != "" {
		return nil, fmt.Errorf("no subpackage %q", req.GetSubpackageName())
	}
	return &pulumirpc.GetSchemaResponse{Schema: string(b.Schema)}, nil
}

// configKeys are the provider inputs the engine itself may set on a default provider.
var configKeys = map[string]bool{"version": true, "pluginDownloadURL": true}

// CheckConfig accepts only engine-set keys: these providers have no configuration, and
// a key that would be ignored is reported rather than dropped.
func (b *Base) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	var keys []string
	for k := range news {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !configKeys[k] && !strings.HasPrefix(k, "__") {
			failures = append(failures, &pulumirpc.CheckFailure{
				Property: k, Reason: fmt.Sprintf("unknown provider configuration %q", k),
			})
		}
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews(), Failures: failures}, nil
}

// DiffConfig reports no change: nothing in the configuration affects resources.
func (b *Base) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

// Configure is called before resource operations when the engine did not handshake.
func (b *Base) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

// Cancel aborts operations in flight (the engine calls it on Ctrl-C).
func (b *Base) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	b.canceler.Cancel()
	return &emptypb.Empty{}, nil
}

// Bound returns a context that ends with ctx or when the engine calls Cancel.
func (b *Base) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return b.canceler.Bound(ctx)
}

// ResourceType returns the type of the resource a request is about.
func ResourceType(typ, urn string) string {
	if typ != "" {
		return typ
	}
	return string(resource.URN(urn).Type())
}
