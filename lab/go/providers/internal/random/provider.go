package random

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/emptypb"

	"kubelet-bootstrap.lab/providers/internal/rpc"
	"kubelet-bootstrap.lab/providers/internal/shape"
)

// Provider serves RandomString and RandomPassword.
type Provider struct {
	rpc.Base
}

// New returns the provider reporting version.
func New(version string) (*Provider, error) {
	schema, err := Schema(version)
	if err != nil {
		return nil, err
	}
	return &Provider{Base: rpc.NewBase(version, schema)}, nil
}

// Schema is the package schema for version.
func Schema(version string) ([]byte, error) {
	return shape.PackageSchema("random", version,
		"Stand-in for the Pulumi Random provider (RandomString and RandomPassword only), built for the kubelet-bootstrap lab.",
		[]shape.Resource{
			{Token: StringToken, Description: "A random string (its result is also its id: not for secrets).",
				Inputs: Inputs, Outputs: outputFields(StringToken)},
			{Token: PasswordToken, Description: "A random string kept secret in state.",
				Inputs: Inputs, Outputs: outputFields(PasswordToken)},
		})
}

func checkType(typ, urn string) (string, error) {
	t := rpc.ResourceType(typ, urn)
	if t != StringToken && t != PasswordToken {
		return "", fmt.Errorf("random stand-in: unknown resource type %q (only RandomString and RandomPassword are implemented)", t)
	}
	return t, nil
}

// Check validates the inputs; unknowns pass through, defaults stay out of the inputs.
func (p *Provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if _, err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := rpc.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	checked, failures := shape.Check(Inputs, news)
	failures = append(failures, validate(checked)...)
	return rpc.CheckResponse(checked, failures)
}

// Diff: every input forces a replacement. Old inputs are compared, not the state, whose
// defaults were never inputs.
func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if _, err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	olds, err := rpc.Unmarshal(req.GetOldInputs())
	if err != nil {
		return nil, err
	}
	if req.GetOldInputs() == nil {
		if olds, err = rpc.Unmarshal(req.GetOlds()); err != nil {
			return nil, err
		}
	}
	news, err := rpc.Unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	return rpc.Diff(olds, news, inputKeys(), req.GetIgnoreChanges(), func(string) bool { return true }), nil
}

// Create generates the result. RandomString's id is its result, as upstream (so the
// value sits in state in plaintext); RandomPassword's id is "none" and its result and
// bcryptHash are secret.
func (p *Provider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	token, err := checkType(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	inputs, err := rpc.Unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	outs, id, err := create(token, inputs, req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := rpc.Marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func create(token string, inputs resource.PropertyMap, preview bool) (resource.PropertyMap, string, error) {
	outs := inputs.Copy()
	if preview {
		// Nothing is generated during preview: the value is chosen by the update.
		if prm, err := params(inputs); err == nil {
			fillDefaults(outs, prm)
		}
		outs["result"] = rpc.Computed()
		if token == PasswordToken {
			outs["result"] = resource.MakeSecret(rpc.Computed())
			outs["bcryptHash"] = resource.MakeSecret(rpc.Computed())
		}
		return outs, "", nil
	}
	prm, err := params(inputs)
	if err != nil {
		return nil, "", err
	}
	fillDefaults(outs, prm)
	result, err := Generate(prm)
	if err != nil {
		return nil, "", err
	}
	if token == StringToken {
		outs["result"] = resource.NewStringProperty(result)
		return outs, result, nil
	}
	hash, err := bcryptHash(result)
	if err != nil {
		return nil, "", err
	}
	outs["result"] = resource.MakeSecret(resource.NewStringProperty(result))
	outs["bcryptHash"] = resource.MakeSecret(resource.NewStringProperty(hash))
	return outs, "none", nil
}

// fillDefaults records the effective settings in the state, like upstream's computed
// attributes; number and numeric mirror each other.
func fillDefaults(outs resource.PropertyMap, prm Params) {
	set := func(k string, v resource.PropertyValue) {
		if _, ok := outs[resource.PropertyKey(k)]; !ok {
			outs[resource.PropertyKey(k)] = v
		}
	}
	set("special", resource.NewBoolProperty(prm.Special))
	set("upper", resource.NewBoolProperty(prm.Upper))
	set("lower", resource.NewBoolProperty(prm.Lower))
	set("numeric", resource.NewBoolProperty(prm.Numeric))
	set("number", resource.NewBoolProperty(prm.Numeric))
	for _, k := range minKeys {
		set(k, resource.NewNumberProperty(0))
	}
}

// bcryptHash hashes at the default cost. bcrypt reads at most 72 bytes and x/crypto
// refuses longer input, so a longer result is hashed on its first 72 bytes.
func bcryptHash(s string) (string, error) {
	b := []byte(s)
	if len(b) > 72 {
		b = b[:72]
	}
	h, err := bcrypt.GenerateFromPassword(b, bcrypt.DefaultCost)
	return string(h), err
}

// Update is never needed: every input change is a replacement.
func (p *Provider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if _, err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("random stand-in: %s has no updatable inputs; a change must replace it", req.GetUrn())
}

// Delete has nothing to clean up.
func (p *Provider) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if _, err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// Read returns the state as it is.
func (p *Provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if _, err := checkType(req.GetType(), req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}
