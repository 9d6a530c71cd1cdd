package command

import (
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"kubelet-bootstrap.lab/providers/internal/shape"
)

// The stand-in's own limit, for the sources the real provider copies and it does not.
const (
	stringAssetUnsupported = "the lab's stand-in copies a FileAsset only; pulumi-command 1.2.1 " +
		"would write this StringAsset's text to remotePath"
	fileArchiveUnsupported = "the lab's stand-in copies a FileAsset only; pulumi-command 1.2.1 " +
		"would copy this FileArchive's file or directory as is (a directory recursively, an archive unpacked never)"
)

// checkSource applies CopyToRemote's own Check rules to the source once the shape is
// checked. The real provider's failures come first, worded and keyed ("asset",
// "archive") as in its copyController.go: an asset must have a path or text, an archive
// a path (remote and in-memory ones are refused). Then the stand-in refuses what the real
// one would copy but it does not (text assets, path archives), so the lab never silently
// differs. An unknown source (preview) passes, as every unknown does here.
func checkSource(checked resource.PropertyMap) []shape.Failure {
	v := shape.Unwrap(checked["source"])
	switch {
	case v.IsAsset():
		a := v.AssetValue()
		switch {
		case a.IsPath():
			return nil
		case a.IsText():
			return []shape.Failure{{Property: "source", Reason: stringAssetUnsupported}}
		}
		return []shape.Failure{{Property: "asset", Reason: "asset must be a path-based file asset or a text asset"}}
	case v.IsArchive():
		if v.ArchiveValue().IsPath() {
			return []shape.Failure{{Property: "source", Reason: fileArchiveUnsupported}}
		}
		return []shape.Failure{{Property: "archive", Reason: "archive must be a path to a file or directory"}}
	}
	return nil
}
