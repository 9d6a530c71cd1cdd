// Package rpctest converts property maps to and from the wire in the providers' tests,
// failing the test on an error instead of returning it.
package rpctest

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"google.golang.org/protobuf/types/known/structpb"

	"kubelet-bootstrap.lab/providers/internal/rpc"
)

// Marshal is rpc.Marshal for tests.
func Marshal(t testing.TB, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := rpc.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Unmarshal is rpc.Unmarshal for tests.
func Unmarshal(t testing.TB, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := rpc.Unmarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
