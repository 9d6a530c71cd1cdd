package command

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/retry"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// clientConfig builds the SSH client configuration of one hop.
//
// Without hostKey the host key is not checked at all (pulumi-command's documented
// behaviour). With hostKey the key must match exactly, and the host key algorithm is
// pinned to the key's type: for an RSA key that type is "ssh-rsa" (SHA-1 signatures),
// which OpenSSH 8.8+ servers no longer offer, so the handshake fails with "no common
// algorithm for host key". That defect of the real provider is reproduced on purpose.
func (c *Connection) clientConfig() (*ssh.ClientConfig, error) {
	config := &ssh.ClientConfig{
		User:            c.User,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec // documented behaviour without hostKey
		Timeout:         time.Duration(c.PerDialTimeout) * time.Second,
	}
	if c.HostKey != nil {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*c.HostKey))
		if err != nil {
			return nil, fmt.Errorf("parsing hostKey: %w", err)
		}
		config.HostKeyCallback = ssh.FixedHostKey(key)
		config.HostKeyAlgorithms = []string{key.Type()}
	}
	if c.PrivateKey != nil {
		var signer ssh.Signer
		var err error
		if c.PrivateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.PrivateKey), []byte(*c.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.PrivateKey))
		}
		if err != nil {
			return nil, err
		}
		config.Auth = append(config.Auth, ssh.PublicKeys(signer))
	}
	if c.Password != nil {
		password := *c.Password
		config.Auth = append(config.Auth, ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
	}
	socket := c.AgentSocketPath
	if env := os.Getenv("SSH_AUTH_SOCK"); socket == nil && env != "" {
		socket = &env
	}
	if socket != nil {
		conn, err := net.Dial("unix", *socket)
		if err != nil {
			return nil, err
		}
		config.Auth = append(config.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	return config, nil
}

func (c *Connection) endpoint() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// Dial connects, through the proxy when there is one, retrying failed attempts with the
// engine's default backoff (100 ms, x1.5, at most 5 s) until dialErrorLimit failures
// (-1: no limit). Authentication and host key failures are retried too, as in the real one.
func (c *Connection) Dial(ctx context.Context, log Logger) (*ssh.Client, error) {
	config, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	if c.Proxy == nil {
		return dialWithRetry(ctx, log, "Dial", c.DialErrorLimit, func() (*ssh.Client, error) {
			return ssh.Dial("tcp", c.endpoint(), config)
		})
	}

	proxyConfig, err := c.Proxy.clientConfig()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	proxyClient, err := dialWithRetry(ctx, log, "Dial proxy", c.Proxy.DialErrorLimit, func() (*ssh.Client, error) {
		return ssh.Dial("tcp", c.Proxy.endpoint(), proxyConfig)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	conn, err := dialWithRetry(ctx, log, "Dial from proxy", c.DialErrorLimit, func() (net.Conn, error) {
		return proxyClient.Dial("tcp", c.endpoint())
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	var chans <-chan ssh.NewChannel
	var reqs <-chan *ssh.Request
	sshConn, err := dialWithRetry(ctx, log, "Dial", c.DialErrorLimit, func() (ssh.Conn, error) {
		sc, ch, rq, err := ssh.NewClientConn(conn, c.endpoint(), config)
		chans, reqs = ch, rq
		return sc, err
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return ssh.NewClient(sshConn, chans, reqs), nil
}

// dialWithRetry calls dial until it succeeds or has failed more than limit times; the
// final error reads "after N failed attempts: <last error>" like the real provider's.
func dialWithRetry[T any](ctx context.Context, log Logger, what string, limit int, dial func() (T, error)) (T, error) {
	var last error
	ok, result, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(try int, _ time.Duration) (bool, any, error) {
			v, err := dial()
			if err == nil {
				return true, v, nil
			}
			last = err
			dials := try + 1
			if limit > -1 && dials > limit {
				return true, nil, fmt.Errorf("after %d failed attempts: %w", try, last)
			}
			of := "inf"
			if limit > -1 {
				of = strconv.Itoa(limit)
			}
			log.Status(fmt.Sprintf("%s %d/%s failed: retrying", what, dials, of))
			return false, nil, nil
		},
	})
	var zero T
	if ok && err == nil {
		return result.(T), nil
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = errors.Join(errors.New("dial cancelled"), last)
	}
	return zero, err
}
