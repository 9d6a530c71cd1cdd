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

// Provider serves command:remote:Command and command:remote:CopyToRemote over the
// provider gRPC protocol.
type Provider struct {
	rpc.Base
	// logger returns where to report for one resource (the engine, in production).
	logger func(ctx context.Context, urn string) Logger
	run    runner
	copy   copier
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
	return &Provider{Base: rpc.NewBase(version, schema), logger: logger, run: Run, copy: Copy}, nil
}

// Schema is the package schema for version.
func Schema(version string) ([]byte, error) {
	return shape.PackageSchema("command", version,
		"Stand-in for the Pulumi Command provider (remote.Command and remote.CopyToRemote only), "+
			"built for the kubelet-bootstrap lab.",
		[]shape.Resource{
			{Token: Token, Description: "A command to run on a remote host over SSH.",
				Inputs: Inputs, Outputs: Outputs},
			{Token: CopyToRemoteToken, Description: "Copy a FileAsset to a remote host over SFTP.",
				Inputs: CopyInputs},
		})
}

// checkType returns the resource type a request is about, or an error for a type the
// stand-in does not serve.
func checkType(typ, urn string) (string, error) {
	switch t := rpc.ResourceType(typ, urn); t {
	case Token, CopyToRemoteToken:
		return t, nil
	default:
		return "", fmt.Errorf("command stand-in: unknown resource type %q (only %s and %s are implemented)",
			t, Token, CopyToRemoteToken)
	}
}

// Check validates the inputs and fills in the defaults; unknowns pass through.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	typ, err := checkType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := rpc.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	if typ == CopyToRemoteToken {
		checked, failures := shape.Check(CopyInputs, news)
		if len(failures) == 0 { // as infer: the resource's own rules run once the inputs decode
			failures = checkSource(checked)
		}
		return rpc.CheckResponse(checked, failures)
	}
	checked, failures := shape.Check(Inputs, news)
	return rpc.CheckResponse(checked, failures)
}

// Diff: for both types a change of triggers replaces, any other input change is an update.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	typ, err := checkType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	olds, news, err := rpc.UnmarshalPair(req.GetOlds(), req.GetNews())
	if err != nil {
		return nil, err
	}
	keys := inputKeys()
	if typ == CopyToRemoteToken {
		keys = copyInputKeys()
	}
	return diff(olds, news, keys, req.GetIgnoreChanges()), nil
}

// diff compares inputs as infer does. A source asset compares by its hash alone
// (resource.Asset.Equals): the same bytes under another path are no change.
//
// Replacement on triggers: the real provider marks a detailed-diff path as a replace
// when the schema says replaceOnChanges for that exact path, so "triggers" (added or
// removed) replaces there and "triggers[0]" (an element changed) is reported as an
// update, which the engine turns into a replace through the SDKs' replaceOnChanges
// ["triggers[*]"]. The stand-in marks every triggers path a replace: the same outcome.
func diff(olds, news resource.PropertyMap, keys, ignore []string) *pulumirpc.DiffResponse {
	return rpc.Diff(olds, news, keys, ignore, func(key string) bool { return key == "triggers" })
}

// Create runs the create command, or copies the file. A Command's id is the resource
// name plus 8 hex digits, a CopyToRemote's 8 hex digits alone (NewUniqueHex("", 8, 0)
// in the real copyController.go).
func (p *Provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	typ, err := checkType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	inputs, err := rpc.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	ctx, cancel := p.Bound(ctx)
	defer cancel()
	log := p.logger(ctx, req.GetUrn())
	var outs resource.PropertyMap
	prefix := resource.URN(req.GetUrn()).Name()
	if typ == CopyToRemoteToken {
		outs, err = createCopy(ctx, p.copy, inputs, req.GetPreview(), log)
		prefix = ""
	} else {
		outs, err = create(ctx, p.run, inputs, req.GetPreview(), log)
	}
	if err != nil {
		return nil, err
	}
	id, err := resource.NewUniqueHex(prefix, 8, 0)
	if err != nil {
		return nil, err
	}
	props, err := rpc.Marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

// Update runs update (or create) with the new inputs, or copies the file again.
func (p *Provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	typ, err := checkType(req.GetType(), req.GetUrn())
	if err != nil {
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
	log := p.logger(ctx, req.GetUrn())
	var outs resource.PropertyMap
	if typ == CopyToRemoteToken {
		outs, err = updateCopy(ctx, p.copy, olds, news, req.GetPreview(), log)
	} else {
		outs, err = update(ctx, p.run, olds, news, req.GetPreview(), log)
	}
	if err != nil {
		return nil, err
	}
	props, err := rpc.Marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

// Delete runs the delete command stored in state. Deleting a CopyToRemote does nothing:
// the real one has no Delete (infer then succeeds without a call), so the copied file
// stays on the host.
func (p *Provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	typ, err := checkType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	if typ == CopyToRemoteToken {
		return &emptypb.Empty{}, nil
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

// Read returns the state as it is, for both types: neither real resource implements
// Read (infer's default returns state and inputs unchanged), so a refresh never looks
// at the host, and a copied file changed or removed there goes unnoticed.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if _, err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}
