package command

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"kubelet-bootstrap.lab/providers/internal/rpc"
	"kubelet-bootstrap.lab/providers/internal/shape"
)

// runner runs one command; Run in production, a fake in some tests.
type runner func(ctx context.Context, spec Spec, cmd string, log Logger) (Result, error)

// outputs is the state the real provider stores: its inputs, connection secret, plus
// stdout and stderr. Those two are never marked secret by the provider, even when stdin
// is: pulumi-go-provider's infer flows secretness only from an input to the output of
// the same name. Secret output therefore needs additionalSecretOutputs in the program.
func outputs(inputs resource.PropertyMap, stdout, stderr resource.PropertyValue) resource.PropertyMap {
	out := withSecretConnection(inputs)
	out["stdout"] = stdout
	out["stderr"] = stderr
	return out
}

// withSecretConnection copies props with the connection marked secret, as infer does for
// an input tagged `provider:"secret"` when it flows to the output of the same name.
func withSecretConnection(props resource.PropertyMap) resource.PropertyMap {
	out := props.Copy()
	if c, ok := out["connection"]; ok && !c.IsSecret() && !c.IsComputed() {
		out["connection"] = resource.MakeSecret(c)
	}
	return out
}

// create runs the create command (if any) with the new inputs. During preview nothing
// runs and stdout/stderr are unknown.
func create(ctx context.Context, run runner, inputs resource.PropertyMap, preview bool, log Logger,
) (resource.PropertyMap, error) {
	if preview {
		return outputs(inputs, rpc.Computed(), rpc.Computed()), nil
	}
	spec, err := readSpec(inputs)
	if err != nil {
		return nil, fmt.Errorf("invalid inputs: %w", err)
	}
	var res Result
	if spec.Create != nil {
		if res, err = run(ctx, spec, *spec.Create, log); err != nil {
			return nil, err
		}
	}
	return outputs(inputs, str(res.Stdout), str(res.Stderr)), nil
}

// update runs `update`, or `create` again when there is no update command, with the NEW
// inputs (connection included) and the previous stdout/stderr in the environment.
// During preview stdout/stderr turn unknown when any input changed or is unknown.
func update(ctx context.Context, run runner, olds, news resource.PropertyMap, preview bool, log Logger,
) (resource.PropertyMap, error) {
	oldStdout, oldStderr := olds["stdout"], olds["stderr"]
	if !oldStdout.IsString() {
		oldStdout = str("")
	}
	if !oldStderr.IsString() {
		oldStderr = str("")
	}
	if preview {
		if inputsChanged(olds, news) {
			return outputs(news, rpc.Computed(), rpc.Computed()), nil
		}
		return outputs(news, oldStdout, oldStderr), nil
	}
	spec, err := readSpec(news)
	if err != nil {
		return nil, fmt.Errorf("invalid inputs: %w", err)
	}
	spec.Stdout, spec.Stderr = oldStdout.StringValue(), oldStderr.StringValue()
	cmd := spec.Update
	if cmd == nil {
		cmd = spec.Create
	}
	if cmd == nil {
		return outputs(news, oldStdout, oldStderr), nil
	}
	res, err := run(ctx, spec, *cmd, log)
	if err != nil {
		return nil, err
	}
	return outputs(news, str(res.Stdout), str(res.Stderr)), nil
}

// remove runs the delete command stored in state, with the connection stored in state:
// the inputs the resource had, not the program's current ones.
func remove(ctx context.Context, run runner, state resource.PropertyMap, log Logger) error {
	spec, err := readSpec(state)
	if err != nil {
		return fmt.Errorf("invalid state: %w", err)
	}
	if spec.Delete == nil {
		return nil
	}
	_, err = run(ctx, spec, *spec.Delete, log)
	return err
}

// inputsChanged reports whether any input is unknown or differs from the old state.
func inputsChanged(olds, news resource.PropertyMap) bool {
	for _, k := range inputKeys() {
		key := resource.PropertyKey(k)
		n, o := news[key], olds[key]
		if shape.ContainsUnknowns(n) || !n.DeepEquals(o) {
			return true
		}
	}
	return false
}

func str(s string) resource.PropertyValue { return resource.NewStringProperty(s) }
