package command

import (
	"bufio"
	"errors"
	"io"
)

// Logging selects which of the command's streams are sent to the engine's log. It does
// not change what is captured in the stdout/stderr outputs.
type Logging string

// ShouldLogStdout is true unless logging names stderr only or none (unset logs both).
func (l Logging) ShouldLogStdout() bool {
	return l == "" || l == "stdout" || l == "stdoutAndStderr"
}

// ShouldLogStderr is true unless logging names stdout only or none (unset logs both).
func (l Logging) ShouldLogStderr() bool {
	return l == "" || l == "stderr" || l == "stdoutAndStderr"
}

// Logger receives what a run reports. Like the real provider, command output goes out
// line by line as ephemeral status messages; setenv problems as warnings or errors.
type Logger interface {
	Status(line string)
	Warning(msg string)
	Error(msg string)
}

// NopLogger drops everything.
type NopLogger struct{}

func (NopLogger) Status(string)  {}
func (NopLogger) Warning(string) {}
func (NopLogger) Error(string)   {}

// streamLines sends r to log line by line until r ends, then closes done.
func streamLines(r io.Reader, log Logger, done chan<- struct{}) {
	defer close(done)
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		log.Status(scanner.Text())
	}
	// Keep draining so a too-long line cannot block the command's writers.
	if err := scanner.Err(); err != nil && !errors.Is(err, io.EOF) {
		_, _ = io.Copy(io.Discard, r)
	}
}
