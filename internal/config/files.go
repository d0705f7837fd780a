package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// File size limits. A configuration is kilobytes to megabytes (50,000
// [[zone]] entries naming only the zone are 1.4 MB) and a secret is a
// token, a URL or a password: the limits only keep a wrong path (a log
// file, an image) from being read into memory whole.
const (
	MaxConfigFileSize = 64 << 20
	MaxSecretFileSize = 64 << 10
)

// Invalid marks err as caused by the configuration: the file, a secret it
// names or an address it gives cannot be used as they are, so running
// again unchanged fails the same way (the CLI exits 2 for it, which the
// systemd unit does not restart). Invalid(nil) is nil.
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return invalidError{err}
}

type invalidError struct{ error }

func (e invalidError) Unwrap() error { return e.error }

// IsInvalid reports whether err is, or wraps, a configuration error: one
// that Invalid marked or the *Errors of Parse.
func IsInvalid(err error) bool {
	var ie invalidError
	var ce *Errors
	return errors.As(err, &ie) || errors.As(err, &ce)
}

// readLimited reads the regular file at path, refusing anything else (a
// device such as /dev/zero, a named pipe, a directory) before reading a
// byte of it: reading those may never end. what names the file in errors
// ("configuration file", "secret file").
func readLimited(path, what string, limit int64) ([]byte, error) {
	// O_NONBLOCK: opening a named pipe without a writer would block for good.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is %s, not a regular file", what, path, fileKind(fi.Mode()))
	}
	tooLarge := fmt.Errorf("%s %s is larger than %s", what, path, byteSize(limit))
	if fi.Size() > limit {
		return nil, tooLarge
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1)) // it may have grown since Stat
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if int64(len(b)) > limit {
		return nil, tooLarge
	}
	return b, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Secret reads a secret from the environment variable env or the file
// file (whichever is set); it returns "" when neither is. The value is
// never included in errors, which are configuration errors (IsInvalid):
// a variable that is not set, a file that cannot be read, is not a
// regular file, is larger than MaxSecretFileSize or holds nothing.
func Secret(env, file string) (string, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", Invalid(fmt.Errorf("environment variable %s is not set", env))
		}
		return v, nil
	case file != "":
		b, err := readLimited(file, "secret file", MaxSecretFileSize)
		if err != nil {
			return "", Invalid(fmt.Errorf("reading secret file: %w", err))
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", Invalid(fmt.Errorf("secret file %s is empty", file))
		}
		return v, nil
	}
	return "", nil
}

// secretFiles lists the secret files the configuration names, by key path.
func (c *Config) secretFiles() (keys, paths []string) {
	add := func(key, path string) {
		if path != "" {
			keys, paths = append(keys, key), append(paths, path)
		}
	}
	add("slack.token_file", c.Slack.TokenFile)
	add("slack.webhook_url_file", c.Slack.WebhookURLFile)
	for i, n := range c.BGP.Neighbor {
		add(fmt.Sprintf("bgp.neighbor[%d].password_file", i), n.PasswordFile)
	}
	for i, a := range c.Alertmanager {
		add(fmt.Sprintf("alertmanager[%d].bearer_token_file", i), a.BearerTokenFile)
	}
	for i, w := range c.Webhook {
		add(fmt.Sprintf("webhook[%d].secret_file", i), w.SecretFile)
	}
	return keys, paths
}

// Warnings returns what is worth telling the operator without refusing the
// configuration: secret files that group or others may read. Only the
// files' modes are looked at, never their contents; a file that cannot be
// looked at is left to the error of reading it.
func (c *Config) Warnings() []string {
	out := c.plainHTTPWarnings()
	keys, paths := c.secretFiles()
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o044 == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s is readable by group or others (mode %04o); make it readable by its owner only (chmod 0600), or hand it to the service as a systemd credential",
			keys[i], p, fi.Mode().Perm()))
	}
	return out
}
