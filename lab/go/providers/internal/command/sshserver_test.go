package command

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sshServer is an in-process SSH server on loopback that runs exec requests with
// /bin/sh, like sshd would, so tests can watch files the commands write, and serves the
// "sftp" subsystem with pkg/sftp's server on the local file system (new files 0644 and
// directories 0755 less the umask, as OpenSSH's sftp-server gives under umask 022).
type sshServer struct {
	addr       string
	hostKey    string // authorized_keys line of the host key
	clientKey  string // PEM private key the server accepts
	acceptEnv  bool   // reply true to "env" requests (sshd with AcceptEnv *)
	mu         sync.Mutex
	envs       []string // names of env requests received
	commands   []string
	sftps      int // sftp subsystem sessions served
	hostSigner ssh.Signer
}

type serverOptions struct {
	acceptEnv bool
	// hostSigner overrides the default ed25519 host key.
	hostSigner ssh.Signer
}

func newClientKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, string(pem.EncodeToMemory(block))
}

func ed25519HostSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// modernRSAHostSigner is an RSA host key offered only with SHA-2 signatures, the way
// OpenSSH 8.8 and later offer it (ssh-rsa/SHA-1 disabled).
func modernRSAHostSigner(t *testing.T) ssh.Signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := ssh.NewSignerWithAlgorithms(s.(ssh.AlgorithmSigner),
		[]string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func startSSH(t *testing.T, opts serverOptions) *sshServer {
	t.Helper()
	clientSigner, clientPEM := newClientKey(t)
	hostSigner := opts.hostSigner
	if hostSigner == nil {
		hostSigner = ed25519HostSigner(t)
	}
	s := &sshServer{
		hostKey:    strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostSigner.PublicKey()))),
		clientKey:  clientPEM,
		acceptEnv:  opts.acceptEnv,
		hostSigner: hostSigner,
	}
	want := clientSigner.PublicKey().Marshal()
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(want) {
				return nil, nil
			}
			return nil, errors.New("unknown key")
		},
	}
	config.AddHostKey(hostSigner)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	s.addr = l.Addr().String()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go s.serveConn(conn, config)
		}
	}()
	return s
}

func (s *sshServer) port(t *testing.T) int {
	t.Helper()
	_, p, err := net.SplitHostPort(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *sshServer) serveConn(conn net.Conn, config *ssh.ServerConfig) {
	sc, chans, reqs, err := ssh.NewServerConn(conn, config)
	if err != nil {
		_ = conn.Close()
		return
	}
	defer func() { _ = sc.Close() }()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
			}
			go s.serveSession(ch, creqs)
		case "direct-tcpip": // a bastion forwarding to the target
			go forward(nc)
		default:
			_ = nc.Reject(ssh.UnknownChannelType, "unsupported channel type")
		}
	}
}

func forward(nc ssh.NewChannel) {
	var dest struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &dest); err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	target, err := net.Dial("tcp", net.JoinHostPort(dest.Host, strconv.Itoa(int(dest.Port))))
	if err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		_ = target.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() { _, _ = io.Copy(ch, target); _ = ch.CloseWrite() }()
	_, _ = io.Copy(target, ch)
	_ = target.Close()
}

func (s *sshServer) serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer func() { _ = ch.Close() }()
	var env []string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if err := ssh.Unmarshal(req.Payload, &kv); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			s.mu.Lock()
			s.envs = append(s.envs, kv.Name)
			s.mu.Unlock()
			if s.acceptEnv {
				env = append(env, kv.Name+"="+kv.Value)
			}
			_ = req.Reply(s.acceptEnv, nil)
		case "subsystem":
			var payload struct{ Name string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil || payload.Name != "sftp" {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			s.mu.Lock()
			s.sftps++
			s.mu.Unlock()
			go ssh.DiscardRequests(reqs)
			serveSFTP(ch)
			return
		case "exec":
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			s.mu.Lock()
			s.commands = append(s.commands, payload.Command)
			s.mu.Unlock()
			code := runShell(ch, payload.Command, env)
			status := make([]byte, 4)
			binary.BigEndian.PutUint32(status, uint32(code))
			_, _ = ch.SendRequest("exit-status", false, status)
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// serveSFTP serves one SFTP session until the client closes it.
func serveSFTP(ch ssh.Channel) {
	server, err := sftp.NewServer(ch)
	if err != nil {
		return
	}
	_ = server.Serve()
	_ = server.Close()
}

func runShell(ch ssh.Channel, command string, env []string) int {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, env...)
	cmd.Stdin = ch
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	default:
		_, _ = io.WriteString(ch.Stderr(), err.Error())
		return 255
	}
}

func (s *sshServer) envRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.envs...)
}

func (s *sshServer) sftpSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sftps
}

func (s *sshServer) executed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}
