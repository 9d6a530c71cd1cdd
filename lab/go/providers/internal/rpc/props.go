// Package rpc holds what both stand-in providers share on the gRPC side: property
// (un)marshalling, the provider-level methods, diffs, and cancellation.
package rpc

import (
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"

	"kubelet-bootstrap.lab/providers/internal/shape"
)

// wire keeps secrets and unknowns in both directions: the providers announce
// AcceptSecrets, and during preview the engine sends (and expects back) unknowns.
var wire = plugin.MarshalOptions{
	KeepUnknowns:  true,
	KeepSecrets:   true,
	KeepResources: true,
}

// Unmarshal decodes a property struct from the engine; a nil struct is an empty map.
func Unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, wire)
}

// Marshal encodes properties for the engine.
func Marshal(props resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(props, wire)
}

// Computed is the value of an output not known until the resource is created.
func Computed() resource.PropertyValue {
	return resource.MakeComputed(resource.NewStringProperty(""))
}

// CheckResponse is what Check answers: the checked inputs, and each failure by property.
func CheckResponse(checked resource.PropertyMap, failures []shape.Failure) (*pulumirpc.CheckResponse, error) {
	inputs, err := Marshal(checked)
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.CheckResponse{Inputs: inputs}
	for _, f := range failures {
		resp.Failures = append(resp.Failures, &pulumirpc.CheckFailure{Property: f.Property, Reason: f.Reason})
	}
	return resp, nil
}

// UnmarshalPair reads the old and new property maps of a Diff or Update request.
func UnmarshalPair(olds, news *structpb.Struct) (resource.PropertyMap, resource.PropertyMap, error) {
	o, err := Unmarshal(olds)
	if err != nil {
		return nil, nil, err
	}
	n, err := Unmarshal(news)
	if err != nil {
		return nil, nil, err
	}
	return o, n, nil
}
