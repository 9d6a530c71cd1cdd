package command

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
)

// Names of the variables that carry the previous run's outputs.
const (
	envStdout = "PULUMI_COMMAND_STDOUT"
	envStderr = "PULUMI_COMMAND_STDERR"
)

// setenvAdvice is the real provider's message when sshd refuses a variable.
const setenvAdvice = `Unable to set '%s'. This only works if your SSH server is configured to accept
	these variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, you could
	prefix the command itself with the variables in the form 'VAR=value command'`

// Result is what a run captured, trailing newline removed as the real provider does.
type Result struct {
	Stdout, Stderr string
}

// Run runs cmd over SSH with spec's connection, environment and stdin.
//
// As in pulumi-command: environment variables that sshd refuses are an error; the
// previous outputs (spec.Stdout/Stderr, when addPreviousOutputInEnv) are set only when
// non-empty, and a refusal there is only a warning. Stdin is sent only when non-empty.
// On a non-zero exit the error is "<exit status>: running "<cmd>":\n<stdout+stderr>",
// so the whole command text ends up in the error: secrets belong in stdin.
func Run(ctx context.Context, spec Spec, cmd string, log Logger) (Result, error) {
	client, err := spec.Connection.Dial(ctx, log)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = client.Close() }()

	session, err := client.NewSession()
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = session.Close() }()

	for _, k := range sortedEnvKeys(spec.Environment) {
		if err := session.Setenv(k, spec.Environment[k]); err != nil {
			log.Error(fmt.Sprintf(setenvAdvice, k))
			return Result{}, fmt.Errorf("could not set environment variable %q: %w", k, err)
		}
	}
	if spec.AddPreviousOutputInEnv {
		for _, kv := range [][2]string{{envStdout, spec.Stdout}, {envStderr, spec.Stderr}} {
			if kv[1] == "" {
				continue
			}
			if err := session.Setenv(kv[0], kv[1]); err != nil {
				log.Warning(fmt.Sprintf(setenvAdvice, kv[0]))
			}
		}
	}
	if spec.Stdin != nil && *spec.Stdin != "" {
		session.Stdin = strings.NewReader(*spec.Stdin)
	}

	var stdout, stderr, combined bytes.Buffer
	r, w := io.Pipe()
	outs := []io.Writer{&stdout, &combined}
	if spec.Logging.ShouldLogStdout() {
		outs = append(outs, w)
	}
	errs := []io.Writer{&stderr, &combined}
	if spec.Logging.ShouldLogStderr() {
		errs = append(errs, w)
	}
	// One lock for both streams: x/crypto copies stdout and stderr concurrently.
	lock := &lockedWriters{}
	session.Stdout = lock.wrap(io.MultiWriter(outs...))
	session.Stderr = lock.wrap(io.MultiWriter(errs...))

	done := make(chan struct{})
	go streamLines(r, log, done)

	stop := context.AfterFunc(ctx, func() { _ = session.Close() })
	err = session.Run(cmd)
	stop()
	_ = w.Close()
	<-done

	if err := withCtxErr(ctx, err); err != nil {
		return Result{}, fmt.Errorf("%w: running %q:\n%s", err, cmd, combined.String())
	}
	return Result{
		Stdout: strings.TrimSuffix(stdout.String(), "\n"),
		Stderr: strings.TrimSuffix(stderr.String(), "\n"),
	}, nil
}
