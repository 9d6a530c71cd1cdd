// Package command is a stand-in for the command:remote:Command and
// command:remote:CopyToRemote resources of pulumi-command 1.2.1: a command run over SSH
// on create, update and delete, and a file copied over SFTP.
package command

import "kubelet-bootstrap.lab/providers/internal/shape"

// Token is the command resource type.
const Token = "command:remote:Command"

// Defaults of pulumi-command 1.2.1 (schema and SDK: port 22, user root,
// dialErrorLimit 10, perDialTimeout 15 s, addPreviousOutputInEnv true).
const (
	defaultPort           = 22.0
	defaultUser           = "root"
	defaultDialErrorLimit = 10.0
	defaultPerDialTimeout = 15.0
)

// connectionFields are shared by the connection and its proxy (bastion).
func connectionFields() map[string]shape.Field {
	return map[string]shape.Field{
		"host":               {Kind: shape.String, Required: true, Description: "The address of the resource to connect to."},
		"port":               {Kind: shape.Number, Default: defaultPort, Description: "The port to connect to. Defaults to 22."},
		"user":               {Kind: shape.String, Default: defaultUser, Description: "The user that we should use for the connection."},
		"password":           {Kind: shape.String, Description: "The password we should use for the connection."},
		"privateKey":         {Kind: shape.String, Description: "The contents of an SSH key to use for the connection."},
		"privateKeyPassword": {Kind: shape.String, Description: "The password to use in case the private key is encrypted."},
		"agentSocketPath":    {Kind: shape.String, Description: "SSH Agent socket path. Default to environment variable SSH_AUTH_SOCK if present."},
		"hostKey":            {Kind: shape.String, Description: "The expected host key to verify the server's identity. If not provided, the host key will be ignored."},
		"dialErrorLimit":     {Kind: shape.Integer, Default: defaultDialErrorLimit, Description: "Max allowed errors on trying to dial the remote host. -1 set count to unlimited. Default value is 10."},
		"perDialTimeout":     {Kind: shape.Integer, Default: defaultPerDialTimeout, Description: "Max number of seconds for each dial attempt. 0 implies no maximum. Default value is 15 seconds."},
	}
}

func proxyConnection() *shape.Object {
	return &shape.Object{
		Token:       "command:remote:ProxyConnection",
		Description: "Instructions for how to connect to a remote endpoint via a bastion host.",
		Fields:      connectionFields(),
	}
}

func connection() *shape.Object {
	fields := connectionFields()
	fields["proxy"] = shape.Field{Kind: shape.Nested, Object: proxyConnection(),
		Description: "The connection settings for the bastion/proxy host."}
	return &shape.Object{
		Token:       "command:remote:Connection",
		Description: "Instructions for how to connect to a remote endpoint.",
		Fields:      fields,
	}
}

// Logging values: which of the command's streams go to the engine's log.
var loggingValues = []string{"stdout", "stderr", "stdoutAndStderr", "none"}

// Inputs describes the input properties of command:remote:Command.
var Inputs = &shape.Object{Fields: map[string]shape.Field{
	// The real provider tags connection `provider:"secret"`: it is secret in state always.
	"connection": {Kind: shape.Nested, Object: connection(), Required: true, Secret: true,
		Description: "The parameters with which to connect to the remote host."},
	"create": {Kind: shape.String, Description: "The command to run on create."},
	"update": {Kind: shape.String, Description: "The command to run on update, if empty, create will run again."},
	"delete": {Kind: shape.String, Description: "The command to run on delete."},
	"stdin":  {Kind: shape.String, Description: "Pass a string to the command's process as standard in"},
	"environment": {Kind: shape.StringMap,
		Description: "Additional environment variables available to the command's process (needs sshd AcceptEnv)."},
	"triggers": {Kind: shape.AnyArray, ReplaceOnChanges: true,
		Description: "Trigger a resource replacement on changes to any of these values."},
	"logging": {Kind: shape.String, Enum: loggingValues, EnumToken: "command:remote:Logging",
		Description: "If the command's stdout and stderr should be logged."},
	"addPreviousOutputInEnv": {Kind: shape.Bool, Default: true,
		Description: "If the previous command's stdout and stderr are injected into the environment of the next run as PULUMI_COMMAND_STDOUT and PULUMI_COMMAND_STDERR."},
}}

// Outputs are the properties the provider adds to the inputs.
var Outputs = map[string]shape.Field{
	"stdout": {Kind: shape.String, Description: "The standard output of the command's process"},
	"stderr": {Kind: shape.String, Description: "The standard error of the command's process"},
}

// inputKeys lists the input properties, for the diff.
func inputKeys() []string {
	keys := make([]string, 0, len(Inputs.Fields))
	for k := range Inputs.Fields {
		keys = append(keys, k)
	}
	return keys
}
