package command

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// copier copies one file; Copy in production.
type copier func(ctx context.Context, spec CopySpec, log Logger) error

// createCopy copies the source to the host. The state is the inputs, connection secret.
// During preview nothing is copied and the state is the inputs as they are (the real
// provider returns its inputs there too, unknowns included).
func createCopy(ctx context.Context, cp copier, inputs resource.PropertyMap, preview bool, log Logger,
) (resource.PropertyMap, error) {
	if preview {
		return withSecretConnection(inputs), nil
	}
	spec, err := readCopySpec(inputs)
	if err != nil {
		return nil, fmt.Errorf("invalid inputs: %w", err)
	}
	if err := cp(ctx, spec, log); err != nil {
		return nil, err
	}
	return withSecretConnection(inputs), nil
}

// updateCopy copies again, with the new inputs, only when the source's hash or the
// remotePath changed (the real Update's needCopy). A change of connection alone (a new
// host, say) updates the state and copies nothing: the file is not sent to the new host.
// triggers never reach here: a change of them replaces.
func updateCopy(ctx context.Context, cp copier, olds, news resource.PropertyMap, preview bool, log Logger,
) (resource.PropertyMap, error) {
	oldHash, oldPath := copyTarget(olds)
	newHash, newPath := copyTarget(news)
	if oldHash == newHash && oldPath == newPath {
		return withSecretConnection(news), nil
	}
	return createCopy(ctx, cp, news, preview, log)
}
