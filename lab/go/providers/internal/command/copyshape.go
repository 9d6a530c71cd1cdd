package command

import "kubelet-bootstrap.lab/providers/internal/shape"

// CopyToRemoteToken is the resource that copies a local file to a host over SFTP.
const CopyToRemoteToken = "command:remote:CopyToRemote"

// CopyInputs describes the input properties of command:remote:CopyToRemote, as in
// pulumi-command 1.2.1's schema. Its state is exactly its inputs: the real provider
// returns CopyToRemoteOutputs{inputs} and adds no output of its own.
var CopyInputs = &shape.Object{Fields: map[string]shape.Field{
	// Tagged `provider:"secret"` like Command's: secret in state always.
	"connection": {Kind: shape.Nested, Object: connection(), Required: true, Secret: true,
		Description: "The parameters with which to connect to the remote host."},
	"triggers": {Kind: shape.AnyArray, ReplaceOnChanges: true,
		Description: "Trigger replacements on changes to this input."},
	"source": {Kind: shape.AssetOrArchive, Required: true,
		Description: "An asset or an archive to upload as the source of the copy (this stand-in copies a FileAsset only)."},
	"remotePath": {Kind: shape.String, Required: true,
		Description: "The destination path on the remote host. Any necessary parent directories will be created automatically. When the remote path is an existing directory, the source file will be copied into that directory. When the remote path is an existing file, that file will be overwritten."},
}}

// copyInputKeys lists the input properties of CopyToRemote, for the diff.
func copyInputKeys() []string {
	keys := make([]string, 0, len(CopyInputs.Fields))
	for k := range CopyInputs.Fields {
		keys = append(keys, k)
	}
	return keys
}
