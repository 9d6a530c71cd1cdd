package command

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pkg/sftp"
)

// Copy copies spec's file to its remotePath over SFTP (the server's "sftp" subsystem),
// dialing as Run does (retries, proxy, hostKey pinning).
//
// As pulumi-command 1.2.1's copyToRemote (remote/copyController.go) does for a file:
// an existing directory at remotePath receives the file under its own base name; an
// existing file is overwritten in place; otherwise the missing parent directories are
// made first. No mode is sent and none is set afterwards: a new file gets the server's
// default (OpenSSH: 0666 less its umask, so 0644; directories 0755), an overwritten file
// keeps the mode it had. A copied binary is therefore not executable until something
// chmods it.
func Copy(ctx context.Context, spec CopySpec, log Logger) error {
	client, err := spec.Connection.Dial(ctx, log)
	if err != nil {
		return err
	}
	defer func() { _ = client.Close() }()
	// The real provider does not watch the context during the transfer; the stand-in
	// closes the connection on cancellation so that Ctrl-C ends a copy as it ends a command.
	stop := context.AfterFunc(ctx, func() { _ = client.Close() })
	defer stop()

	// The real provider's options: one ReadFrom per file, so concurrent writes are safe.
	c, err := sftp.NewClient(client, sftp.UseConcurrentWrites(true))
	if err != nil {
		return withCtxErr(ctx, err)
	}
	defer func() { _ = c.Close() }()
	return withCtxErr(ctx, sftpCopyFile(c, spec.SourcePath, spec.RemotePath))
}

func withCtxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// sftpCopyFile is the file branch of the real sftpCopy, with its error messages.
func sftpCopyFile(c *sftp.Client, src, dest string) error {
	local, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = local.Close() }()
	info, err := local.Stat()
	if err != nil {
		return err
	}
	if info.IsDir() {
		// The engine cannot hash a directory FileAsset, so this is not reached through it.
		return fmt.Errorf("%s is a directory: the lab's stand-in copies a file only", src)
	}

	destStat, err := remoteStat(c, dest)
	if err != nil {
		return err
	}
	switch {
	case destStat != nil && destStat.IsDir():
		dest = filepath.Join(dest, filepath.Base(src))
	case destStat == nil:
		if err := c.MkdirAll(filepath.Dir(dest)); err != nil {
			return fmt.Errorf("failed to create parent directories for %s: %w", dest, err)
		}
	}

	// Create is open(O_RDWR|O_CREATE|O_TRUNC) without attributes: see Copy on modes.
	remote, err := c.Create(dest)
	if err != nil {
		return fmt.Errorf("failed to create remote file %s: %w", dest, err)
	}
	// The real provider defers Close and ignores its error; ReadFrom has waited for
	// every write to be acknowledged already.
	defer func() { _ = remote.Close() }()
	if _, err := remote.ReadFrom(local); err != nil {
		return fmt.Errorf("failed to copy file %s to remote path %s: %w", src, dest, err)
	}
	return nil
}

// remoteStat returns nil, nil when path does not exist (pkg/sftp maps the status to
// os.ErrNotExist).
func remoteStat(c *sftp.Client, path string) (fs.FileInfo, error) {
	info, err := c.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("failed to stat remote path %s: %w", path, err)
	}
	return info, nil
}
