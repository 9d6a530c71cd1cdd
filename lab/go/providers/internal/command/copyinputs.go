package command

import (
	"errors"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"kubelet-bootstrap.lab/providers/internal/shape"
)

// CopySpec is what a copy needs from the resource's properties.
type CopySpec struct {
	Connection Connection
	// SourcePath is the FileAsset's path as the program gave it: relative paths are
	// relative to the provider's working directory, which the engine sets to the program
	// directory. The real provider opens it as is, and so does the stand-in.
	SourcePath string
	RemotePath string
}

var errNotFileAsset = errors.New("source: not a FileAsset (the stand-in copies FileAssets only)")

// readCopySpec reads known properties; an unknown value is an error (nothing is copied
// from or to a value the engine does not know yet).
func readCopySpec(props resource.PropertyMap) (CopySpec, error) {
	r := shape.NewReader(props, "")
	var s CopySpec
	s.Connection = readHostConnection(r)
	a, _ := r.AssetOrArchive("source")
	if rp := r.String("remotePath"); rp != nil {
		s.RemotePath = *rp
	}
	if err := r.Err(); err != nil {
		return s, err
	}
	if s.Connection.Host == "" {
		return s, errMissingHost
	}
	if a == nil || !a.IsPath() {
		return s, errNotFileAsset
	}
	s.SourcePath = a.Path
	return s, nil
}

// copyTarget returns the hash the engine computed for the source (asset or archive) and
// the remotePath: the two things whose change makes an update copy again.
func copyTarget(props resource.PropertyMap) (hash string, remotePath string) {
	v := shape.Unwrap(props["source"])
	switch {
	case v.IsAsset():
		hash = v.AssetValue().Hash
	case v.IsArchive():
		hash = v.ArchiveValue().Hash
	}
	if p := shape.Unwrap(props["remotePath"]); p.IsString() {
		remotePath = p.StringValue()
	}
	return hash, remotePath
}
