package caddyconf

import (
	"fmt"
	"log/slog"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
)

// ResolveSecret replaces placeholders ({env.X}, {file.path}) in a configured
// secret, and trims the newline a secret file usually ends with.
func ResolveSecret(s string) string {
	repl := caddy.NewReplacer()
	v := repl.ReplaceKnown(s, "")
	if len(v) > 0 && v[len(v)-1] == '\n' {
		v = v[:len(v)-1]
	}
	return v
}

// CheckedSecret resolves the placeholders of a configured secret and refuses
// it if it is shorter than min, counted in bytes; unit names them in the error
// ("bytes", or "characters" where the option's documentation says so).
func CheckedSecret(s string, min int, unit string) (string, error) {
	v := ResolveSecret(s)
	if len(v) < min {
		return "", fmt.Errorf("must be at least %d %s after placeholders are resolved, got %d", min, unit, len(v))
	}
	return v, nil
}

// CheckedSecrets is CheckedSecret of every secret of a repeatable option; an
// error names the option and the secret's place ("signing_key 2: ...").
func CheckedSecrets(option string, secrets []string, min int, unit string) ([]string, error) {
	var out []string
	for i, s := range secrets {
		v, err := CheckedSecret(s, min, unit)
		if err != nil {
			return nil, fmt.Errorf("%s %d: %w", option, i+1, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Slog is logger as a log/slog logger, through Caddy's own bridge, without
// stack traces: the logger of the plain-Go packages that log with slog.
func Slog(logger *zap.Logger) *slog.Logger {
	return slog.New(zapslog.NewHandler(logger.Core(), zapslog.WithName(logger.Name()), zapslog.AddStacktraceAt(slog.Level(127))))
}
