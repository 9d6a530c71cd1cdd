package rpc

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
)

// EngineLog reports to the engine about one resource. Status lines are ephemeral (the
// progress display's Info column), warnings and errors stay in the diagnostics.
type EngineLog struct {
	ctx  context.Context
	host *provider.HostClient
	urn  resource.URN
}

// NewEngineLog reports about urn through host; a nil host drops everything.
func NewEngineLog(ctx context.Context, host *provider.HostClient, urn string) *EngineLog {
	return &EngineLog{ctx: ctx, host: host, urn: resource.URN(urn)}
}

// Status sends an ephemeral info line.
func (l *EngineLog) Status(msg string) { l.send(diag.Info, msg, true) }

// Warning sends a warning.
func (l *EngineLog) Warning(msg string) { l.send(diag.Warning, msg, false) }

// Error sends an error message (the operation's own error is returned separately).
func (l *EngineLog) Error(msg string) { l.send(diag.Error, msg, false) }

func (l *EngineLog) send(sev diag.Severity, msg string, ephemeral bool) {
	if l.host == nil {
		return
	}
	// A log that cannot be delivered must not fail the operation.
	if ephemeral {
		_ = l.host.LogStatus(l.ctx, sev, l.urn, msg)
	} else {
		_ = l.host.Log(l.ctx, sev, l.urn, msg)
	}
}
