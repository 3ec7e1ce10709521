package shopify

import (
	"context"
	"time"
)

// SetSleep replaces how c waits (throttling and backoff), so tests can
// record waits without spending them.
func SetSleep(c *Client, f func(context.Context, time.Duration) error) { c.sleep = f }
