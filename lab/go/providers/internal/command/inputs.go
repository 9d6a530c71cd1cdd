package command

import (
	"errors"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"kubelet-bootstrap.lab/providers/internal/shape"
)

// Connection is how to reach a host; Proxy, when set, is the bastion to go through.
type Connection struct {
	Host               string
	Port               int
	User               string
	Password           *string
	PrivateKey         *string
	PrivateKeyPassword *string
	AgentSocketPath    *string
	HostKey            *string
	DialErrorLimit     int
	PerDialTimeout     int
	Proxy              *Connection
}

// Spec is what a run needs from the resource's properties (inputs or state).
type Spec struct {
	Connection             Connection
	Create, Update, Delete *string
	Stdin                  *string
	Environment            map[string]string
	Logging                Logging
	AddPreviousOutputInEnv bool
	// Stdout and Stderr are the outputs of the previous run (state only).
	Stdout, Stderr string
}

var errMissingHost = errors.New("connection.host: missing required property")

// readSpec reads known properties; an unknown value is an error (nothing runs on it).
func readSpec(props resource.PropertyMap) (Spec, error) {
	r := shape.NewReader(props, "")
	var s Spec
	s.Connection = readHostConnection(r)
	s.Create = r.String("create")
	s.Update = r.String("update")
	s.Delete = r.String("delete")
	s.Stdin = r.String("stdin")
	s.Environment = r.StringMap("environment")
	if l := r.String("logging"); l != nil {
		s.Logging = Logging(*l)
	}
	s.AddPreviousOutputInEnv = r.Bool("addPreviousOutputInEnv", true)
	if v := r.String("stdout"); v != nil {
		s.Stdout = *v
	}
	if v := r.String("stderr"); v != nil {
		s.Stderr = *v
	}
	if s.Connection.Host == "" && r.Err() == nil {
		return s, errMissingHost
	}
	return s, r.Err()
}

// readHostConnection reads `connection` and its `proxy`, as both resources hold them; a zero
// Connection (no host) when there is none.
func readHostConnection(r *shape.Reader) Connection {
	var connection Connection
	if c := r.Object("connection"); c != nil {
		connection = readConnection(c)
		if p := c.Object("proxy"); p != nil {
			proxy := readConnection(p)
			connection.Proxy = &proxy
		}
	}
	return connection
}

func readConnection(r *shape.Reader) Connection {
	c := Connection{
		Port:               int(r.Number("port", defaultPort)),
		User:               defaultUser,
		Password:           r.String("password"),
		PrivateKey:         r.String("privateKey"),
		PrivateKeyPassword: r.String("privateKeyPassword"),
		AgentSocketPath:    r.String("agentSocketPath"),
		HostKey:            r.String("hostKey"),
		DialErrorLimit:     int(r.Number("dialErrorLimit", defaultDialErrorLimit)),
		PerDialTimeout:     int(r.Number("perDialTimeout", defaultPerDialTimeout)),
	}
	if h := r.String("host"); h != nil {
		c.Host = *h
	}
	if u := r.String("user"); u != nil {
		c.User = *u
	}
	return c
}
