package command

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"

	"kubelet-bootstrap.lab/providers/internal/rpc"
	"kubelet-bootstrap.lab/providers/internal/shape"
)

// Provider serves command:remote:Command over the provider gRPC protocol.
type Provider struct {
	rpc.Base
	// logger returns where to report for one resource (the engine, in production).
	logger func(ctx context.Context, urn string) Logger
	run    runner
}

// New returns the provider; logger may be nil (nothing is reported).
func New(version string, logger func(ctx context.Context, urn string) Logger) (*Provider, error) {
	schema, err := Schema(version)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = func(context.Context, string) Logger { return NopLogger{} }
	}
	return &Provider{Base: rpc.NewBase(version, schema), logger: logger, run: Run}, nil
}

// Schema is the package schema for version.
func Schema(version string) ([]byte, error) {
	return shape.PackageSchema("command", version,
		"Stand-in for the Pulumi Command provider (remote.Command only), built for the kubelet-bootstrap lab.",
		[]shape.Resource{{Token: Token, Description: "A command to run on a remote host over SSH.",
			Inputs: Inputs, Outputs: Outputs}})
}

func checkType(typ, urn string) error {
	if t := rpc.ResourceType(typ, urn); t != Token {
		return fmt.Errorf("command stand-in: unknown resource type %q (only %s is implemented)", t, Token)
	}
	return nil
}

// Check validates the inputs and fills in the defaults; unknowns pass through.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := rpc.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	checked, failures := shape.Check(Inputs, news)
	return rpc.CheckResponse(checked, failures)
}

// Diff: a change of triggers replaces, any other input change is an update.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	olds, news, err := rpc.UnmarshalPair(req.GetOlds(), req.GetNews())
	if err != nil {
		return nil, err
	}
	return diff(olds, news, req.GetIgnoreChanges()), nil
}

func diff(olds, news resource.PropertyMap, ignore []string) *pulumirpc.DiffResponse {
	return rpc.Diff(olds, news, inputKeys(), ignore, func(key string) bool { return key == "triggers" })
}

// Create runs the create command; the id is the resource name plus 8 hex digits.
func (p *Provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	inputs, err := rpc.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.Bound(ctx)
	defer cancel()
	outs, err := create(ctx, p.run, inputs, req.GetPreview(), p.logger(ctx, req.GetUrn()))
	if err != nil {
		return nil, err
	}
	id, err := resource.NewUniqueHex(resource.URN(req.GetUrn()).Name(), 8, 0)
	if err != nil {
		return nil, err
	}
	props, err := rpc.Marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

// Update runs update (or create) with the new inputs.
func (p *Provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	olds, news, err := rpc.UnmarshalPair(req.GetOlds(), req.GetNews())
	if err != nil {
		return nil, err
	}
	for _, k := range req.GetIgnoreChanges() {
		if v, ok := olds[resource.PropertyKey(k)]; ok {
			news[resource.PropertyKey(k)] = v
		} else {
			delete(news, resource.PropertyKey(k))
		}
	}
	ctx, cancel := p.Bound(ctx)
	defer cancel()
	outs, err := update(ctx, p.run, olds, news, req.GetPreview(), p.logger(ctx, req.GetUrn()))
	if err != nil {
		return nil, err
	}
	props, err := rpc.Marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

// Delete runs the delete command stored in state.
func (p *Provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	state, err := rpc.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.Bound(ctx)
	defer cancel()
	if err := remove(ctx, p.run, state, p.logger(ctx, req.GetUrn())); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read returns the state as it is: a command cannot be read back from the host.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}
