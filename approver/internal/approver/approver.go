// Package approver judges every kubelet serving CSR the API server holds, and each new one as
// it comes, and approves the genuine ones of the inventory's nodes (denies the forged ones).
//
// One cycle lists the CSRs, judges each, then watches from the list's resourceVersion until
// the watch ends (the server ends it after the resync period), the inventory changes, or an
// error; the next cycle lists again. Relisting judges again what an older inventory ignored,
// and a failed cycle is retried with a growing pause, so an API server restart costs a few
// retries and no state.
package approver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"kubelet-bootstrap/approver/internal/inventory"
	"kubelet-bootstrap/approver/internal/kube"
	"kubelet-bootstrap/approver/policy"
)

const (
	conflictRetries = 5
	requestTimeout  = 30 * time.Second
	firstPause      = time.Second
	longestPause    = 30 * time.Second
)

// API is what the approver asks of the API server (kube.Client, or a test's fake).
type API interface {
	List(ctx context.Context) ([]kube.CSR, string, error)
	Get(ctx context.Context, name string) (kube.CSR, error)
	Decide(ctx context.Context, csr kube.CSR) error
	Watch(ctx context.Context, resourceVersion string, timeout time.Duration, onEvent func(kube.Event)) error
	CanI(ctx context.Context, verb, group, resource, subresource, name string) (bool, string, error)
}

// permission is one thing the approver's identity must be allowed, and how to ask for it.
type permission struct {
	what                                     string
	verb, group, resource, subresource, name string
}

// needed is what approving needs: a missing grant makes the approver unhealthy at once, rather
// than healthy and refused at its first decision.
var needed = []permission{
	{"list CSRs", "list", "certificates.k8s.io", "certificatesigningrequests", "", ""},
	{"watch CSRs", "watch", "certificates.k8s.io", "certificatesigningrequests", "", ""},
	{"update CSR approvals", "update", "certificates.k8s.io", "certificatesigningrequests", "approval", ""},
	{"approve for " + policy.SigningSigner, "approve", "certificates.k8s.io", "signers", "", policy.SigningSigner},
}

// Approver holds the current inventory and what its health reports.
type Approver struct {
	API           API
	InventoryPath string
	Log           *slog.Logger
	// Resync is how long one watch lasts before the CSRs are listed again.
	Resync time.Duration
	// InventoryPoll is how often the inventory file is read again.
	InventoryPoll time.Duration

	mu         sync.Mutex
	inventory  inventory.Inventory
	status     Status
	unmanaged  map[string]bool
	invChanged chan struct{}
	now        func() time.Time
}

// Status is what the health endpoint reports.
type Status struct {
	Nodes           int       `json:"nodes"`
	InventoryDigest string    `json:"inventoryDigest"`
	InventoryError  string    `json:"inventoryError,omitempty"`
	Approved        int       `json:"approved"`
	Denied          int       `json:"denied"`
	LastContact     time.Time `json:"lastContact"`
	LastError       string    `json:"lastError,omitempty"`
	// DecisionError is why the last decision could not be written, until one is.
	DecisionError string `json:"decisionError,omitempty"`
	// Forbidden is what its identity may not do of what approving needs.
	Forbidden string `json:"forbidden,omitempty"`
}

// Run loads the inventory and approves until ctx ends. It fails only when the inventory
// cannot be loaded at the start: without it nothing can be judged.
func (a *Approver) Run(ctx context.Context) error {
	loaded, err := inventory.Load(a.InventoryPath)
	if err != nil {
		return err
	}
	a.now = time.Now
	a.unmanaged = map[string]bool{}
	a.invChanged = make(chan struct{}, 1)
	a.setInventory(loaded)
	a.Log.Info("started", "nodes", len(loaded.Nodes), "inventoryDigest", loaded.Digest)
	go a.followInventory(ctx)
	pause := firstPause
	for ctx.Err() == nil {
		err := a.cycle(ctx)
		if err == nil || ctx.Err() != nil {
			pause = firstPause
			continue
		}
		a.mu.Lock()
		a.status.LastError = err.Error()
		a.mu.Unlock()
		a.Log.Error("talking to the API server failed; retrying", "error", err.Error(), "retryIn", pause.String())
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, longestPause)
	}
	return nil
}

// Snapshot is the current status, for the health endpoint.
func (a *Approver) Snapshot() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

func (a *Approver) cycle(ctx context.Context) error {
	if err := a.checkPermissions(ctx); err != nil {
		return err
	}
	var csrs []kube.CSR
	var resourceVersion string
	err := a.request(ctx, func(ctx context.Context) (err error) {
		csrs, resourceVersion, err = a.API.List(ctx)
		return err
	})
	if err != nil {
		return err
	}
	a.contact()
	a.forgetUnmanagedExcept(csrs)
	for _, csr := range csrs {
		if err := a.consider(ctx, csr); err != nil {
			return err
		}
	}
	watchCtx, cancelWatch := context.WithTimeout(ctx, a.Resync+requestTimeout)
	defer cancelWatch()
	go func() {
		select {
		case <-a.invChanged:
			cancelWatch()
		case <-watchCtx.Done():
		}
	}()
	err = a.API.Watch(watchCtx, resourceVersion, a.Resync, func(event kube.Event) {
		a.contact()
		if event.Type == "ADDED" || event.Type == "MODIFIED" {
			if err := a.consider(ctx, event.Object); err != nil {
				cancelWatch() // unreachable: list again, which fails into the pause if it still is
			}
		}
	})
	switch {
	case err == nil, kube.IsGone(err):
		a.contact()
		return nil
	case errors.Is(err, context.Canceled) && ctx.Err() == nil:
		return nil // the inventory changed: list again
	default:
		return err
	}
}

// consider judges one CSR and writes the verdict, judging again after a conflict. A refusal
// by the API server is logged and kept for the health report (the next list judges the CSR
// again); an error reaching it is returned, to end the cycle rather than wait out each CSR.
func (a *Approver) consider(ctx context.Context, csr kube.CSR) error {
	name, _ := kube.Field(csr, "metadata", "name").(string)
	for try := 0; try < conflictRetries; try++ {
		current := a.currentInventory()
		verdict := policy.Evaluate(csr, current.Nodes, current.MaxExpirationSeconds)
		if verdict.Action == policy.Ignore {
			a.noteIgnored(name, verdict)
			return nil
		}
		err := a.request(ctx, func(ctx context.Context) error {
			return a.API.Decide(ctx, withCondition(csr, verdict, a.now()))
		})
		if err == nil {
			a.noteDecided(name, csr, verdict)
			return nil
		}
		if kube.IsConflict(err) {
			err = a.request(ctx, func(ctx context.Context) (err error) {
				csr, err = a.API.Get(ctx, name)
				return err
			})
		}
		if err != nil {
			a.noteFailed(name, verdict, err)
			var refused *kube.StatusError
			if errors.As(err, &refused) {
				return nil
			}
			return err
		}
	}
	a.Log.Error("the CSR kept changing; the next list judges it again", "csr", name, "tries", conflictRetries)
	return nil
}

// checkPermissions asks the API server whether the identity may do what approving needs.
func (a *Approver) checkPermissions(ctx context.Context) error {
	var forbidden []string
	for _, p := range needed {
		var allowed bool
		err := a.request(ctx, func(ctx context.Context) (err error) {
			allowed, _, err = a.API.CanI(ctx, p.verb, p.group, p.resource, p.subresource, p.name)
			return err
		})
		if err != nil {
			return err
		}
		if !allowed {
			forbidden = append(forbidden, p.what)
		}
	}
	a.mu.Lock()
	changed := a.status.Forbidden != strings.Join(forbidden, ", ")
	a.status.Forbidden = strings.Join(forbidden, ", ")
	a.mu.Unlock()
	if changed && len(forbidden) > 0 {
		a.Log.Error("its identity may not do what approving needs: check its ClusterRole and binding",
			"forbidden", strings.Join(forbidden, ", "))
	}
	return nil
}

func (a *Approver) noteFailed(name string, verdict policy.Verdict, err error) {
	a.mu.Lock()
	a.status.DecisionError = fmt.Sprintf("%s of %s: %v", verdict.Action, name, err)
	a.mu.Unlock()
	a.Log.Error("writing the decision failed; the next list judges the CSR again",
		"csr", name, "node", verdict.Node, "action", string(verdict.Action), "error", err.Error())
}

// forgetUnmanagedExcept keeps the note of ignored CSRs to those still listed.
func (a *Approver) forgetUnmanagedExcept(csrs []kube.CSR) {
	listed := make(map[string]bool, len(csrs))
	for _, csr := range csrs {
		name, _ := kube.Field(csr, "metadata", "name").(string)
		listed[name] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for name := range a.unmanaged {
		if !listed[name] {
			delete(a.unmanaged, name)
		}
	}
}

func (a *Approver) request(ctx context.Context, call func(context.Context) error) error {
	requestCtx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return call(requestCtx)
}

// withCondition is csr with the verdict's condition appended to its status, csr untouched.
func withCondition(csr kube.CSR, verdict policy.Verdict, now time.Time) kube.CSR {
	kind, reason := "Approved", policy.ApprovedReason
	if verdict.Action == policy.Deny {
		kind, reason = "Denied", policy.DeniedReason
	}
	condition := map[string]any{
		"type":           kind,
		"status":         "True",
		"reason":         reason,
		"message":        "kubelet-bootstrap-approver: " + verdict.Message,
		"lastUpdateTime": now.UTC().Format(time.RFC3339),
	}
	status := map[string]any{}
	if old, ok := csr["status"].(map[string]any); ok {
		for key, value := range old {
			status[key] = value
		}
	}
	conditions, _ := status["conditions"].([]any)
	status["conditions"] = append(append([]any{}, conditions...), condition)
	copied := make(kube.CSR, len(csr))
	for key, value := range csr {
		copied[key] = value
	}
	copied["status"] = status
	return copied
}

func (a *Approver) noteDecided(name string, csr kube.CSR, verdict policy.Verdict) {
	requestor, _ := kube.Field(csr, "spec", "username").(string)
	a.mu.Lock()
	if verdict.Action == policy.Approve {
		a.status.Approved++
	} else {
		a.status.Denied++
	}
	a.status.DecisionError = ""
	a.mu.Unlock()
	level, event := slog.LevelInfo, "approved"
	if verdict.Action == policy.Deny {
		level, event = slog.LevelWarn, "denied"
	}
	a.Log.Log(context.Background(), level, event, "csr", name, "node", verdict.Node,
		"requestor", requestor, "rule", verdict.Rule, "reason", verdict.Message)
}

// noteIgnored logs, once per CSR, a serving request of no node of the inventory: the one
// ignored request an operator may be looking for (a node the program does not know yet).
func (a *Approver) noteIgnored(name string, verdict policy.Verdict) {
	if verdict.Rule != "unmanaged" {
		return
	}
	a.mu.Lock()
	seen := a.unmanaged[name]
	a.unmanaged[name] = true
	a.mu.Unlock()
	if !seen {
		a.Log.Info("ignored", "csr", name, "rule", verdict.Rule, "reason", verdict.Message)
	}
}

func (a *Approver) contact() {
	a.mu.Lock()
	a.status.LastContact = a.now()
	a.status.LastError = ""
	a.mu.Unlock()
}

func (a *Approver) currentInventory() inventory.Inventory {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inventory
}

func (a *Approver) setInventory(loaded inventory.Inventory) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inventory = loaded
	a.status.Nodes = len(loaded.Nodes)
	a.status.InventoryDigest = loaded.Digest
	a.status.InventoryError = ""
}

// followInventory reads the inventory file again every InventoryPoll; a new content replaces
// the inventory and ends the current watch, so the next list judges every CSR by it. A file
// that does not load keeps the last good inventory, and the health endpoint reports it.
func (a *Approver) followInventory(ctx context.Context) {
	ticker := time.NewTicker(a.InventoryPoll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		loaded, err := inventory.Load(a.InventoryPath)
		if err != nil {
			a.mu.Lock()
			changed := a.status.InventoryError != err.Error()
			a.status.InventoryError = err.Error()
			a.mu.Unlock()
			if changed {
				a.Log.Error("the inventory does not load; judging by the last one that did", "error", err.Error())
			}
			continue
		}
		if loaded.Digest == a.currentInventory().Digest {
			a.setInventory(loaded) // clears an error of a version that did not load
			continue
		}
		a.setInventory(loaded)
		a.Log.Info("inventory changed", "nodes", len(loaded.Nodes), "inventoryDigest", loaded.Digest)
		select {
		case a.invChanged <- struct{}{}:
		default:
		}
	}
}
