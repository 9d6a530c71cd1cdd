package rpc

import (
	"context"
	"sync"
)

// Canceler turns the engine's one-shot Cancel RPC into context cancellation, so that
// dial retries and running commands stop instead of outliving the engine.
type Canceler struct {
	once sync.Once
	done chan struct{}
}

// NewCanceler returns a Canceler that has not fired.
func NewCanceler() *Canceler { return &Canceler{done: make(chan struct{})} }

// Cancel fires once; later calls do nothing.
func (c *Canceler) Cancel() { c.once.Do(func() { close(c.done) }) }

// Bound returns a context that ends with ctx or when Cancel fires.
func (c *Canceler) Bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
