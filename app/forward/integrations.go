package forward

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/clevertap"
	"github.com/perkbridge/perkbridge/app/identity"
	"github.com/perkbridge/perkbridge/app/klaviyo"
	"github.com/perkbridge/perkbridge/app/store"
	"github.com/perkbridge/perkbridge/app/vault"
)

// IntegrationView is an integration in the JSON API (DESIGN.md §6).
// Credentials are never in it; CredentialsHint shows the secret's last four
// characters.
type IntegrationView struct {
	Kind           string `json:"kind"`
	Status         string `json:"status"` // not_connected, initializing, active, paused
	StatusReason   string `json:"status_reason"`
	CommonProperty string `json:"common_property"`
	Region         string `json:"region,omitempty"`     // CleverTap
	AccountID      string `json:"account_id,omitempty"` // CleverTap
	// CredentialsHint is the masked secret, e.g. "••••••••3f9a".
	CredentialsHint string     `json:"credentials_hint,omitempty"`
	ValidatedAt     *time.Time `json:"validated_at,omitempty"`
	// PhoneFallback and SendPhone are the identity choices (KlaviyoInput).
	PhoneFallback bool `json:"phone_fallback"`
	SendPhone     bool `json:"send_phone"`
}

func viewOf(in *store.Integration) IntegrationView {
	v := IntegrationView{
		Kind: in.Kind, Status: in.Status, StatusReason: in.StatusReason, CommonProperty: in.CommonProperty,
		CredentialsHint: in.CredentialsHint, ValidatedAt: in.ValidatedAt,
		PhoneFallback: in.PhoneFallback, SendPhone: in.SendPhone,
	}
	if in.Kind == KindCleverTap {
		v.Region, v.AccountID = in.Region, in.AccountID
	}
	return v
}

// List returns both integrations of the shop, CleverTap then Klaviyo; a
// kind the shop never connected is not_connected.
func (s *Service) List(ctx context.Context, shopID app.ShopID) ([]IntegrationView, error) {
	rows, err := s.st.Integrations(ctx, shopID)
	if err != nil {
		return nil, err
	}
	out := make([]IntegrationView, 0, 2)
	for _, kind := range Kinds() {
		// Never connected: the choices a first connection gets.
		v := IntegrationView{Kind: kind, Status: store.IntegrationNotConnected, PhoneFallback: kind == KindKlaviyo}
		for i := range rows {
			if rows[i].Kind == kind {
				v = viewOf(&rows[i])
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// Get returns one integration of the shop (not_connected when absent).
func (s *Service) Get(ctx context.Context, shopID app.ShopID, kind string) (IntegrationView, error) {
	kind, err := parseKind(kind, "")
	if err != nil {
		return IntegrationView{}, err
	}
	in, err := s.st.Integration(ctx, shopID, kind)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return IntegrationView{Kind: kind, Status: store.IntegrationNotConnected}, nil
	}
	if err != nil {
		return IntegrationView{}, err
	}
	return viewOf(in), nil
}

// KlaviyoInput is the body of PUT /api/v1/integrations/klaviyo.
type KlaviyoInput struct {
	CommonProperty string `json:"common_property"`
	// PrivateAPIKey is a "pk_…" key with accounts:read, events:write and
	// profiles:write. Empty keeps the stored key.
	PrivateAPIKey string `json:"private_api_key"`
	// PhoneFallback sends customers without the common property's value by
	// phone number (default on); SendPhone lets the phone ride along on
	// events keyed by another identifier (default off: it can overwrite an
	// SMS-consented number). Absent keeps the saved choice.
	PhoneFallback *bool `json:"phone_fallback,omitempty"`
	SendPhone     *bool `json:"send_phone,omitempty"`
}

// CleverTapInput is the body of PUT /api/v1/integrations/clevertap.
type CleverTapInput struct {
	CommonProperty string `json:"common_property"`
	AccountID      string `json:"account_id"`
	// Passcode is the account passcode (not the SDK token). Empty keeps
	// the stored one, for the same account id.
	Passcode string `json:"passcode"`
	// Region is the data centre: eu1 (the default), in1, sg1, us1, aps3,
	// mec1 or sk1.
	Region string `json:"region"`
	// PhoneFallback sends customers without the common property's value by
	// phone (a second CleverTap profile, keyed by the phone; default off).
	// Absent keeps the saved choice.
	PhoneFallback *bool `json:"phone_fallback,omitempty"`
}

// errInconclusive marks a validation that got no verdict (the sink was
// unreachable, throttled or failing): nothing is changed.
var errInconclusive = errors.New("forward: credentials could not be checked")

// connectPlan is one Connect call after input validation.
type connectPlan struct {
	kind       string
	prev       *store.Integration // nil when the shop had none
	settings   store.IntegrationSettings
	validate   func(ctx context.Context) (accountID string, reason string, err error)
	secretHint string
}

// connect runs the Initialize flow of DESIGN.md §6: the integration is
// saved as initializing with the submitted settings and credentials, the
// credentials are checked against the sink, and the integration becomes
// active, or is left paused (it was connected before) or not_connected
// with the sink's reason. The credentials are stored either way, so a
// merchant told to pick another CleverTap region can re-submit with an
// empty passcode. A check that gets no verdict (sink unreachable,
// throttled) restores the previous state and returns EUNAVAILABLE.
func (s *Service) connect(ctx context.Context, shopID app.ShopID, p connectPlan) (IntegrationView, error) {
	init := p.settings
	init.Status, init.StatusReason = store.IntegrationInitializing, "Checking the credentials…"
	if p.prev != nil {
		init.AccountID = orString(init.AccountID, p.prev.AccountID)
	}
	if _, err := s.st.SaveIntegration(ctx, shopID, init); err != nil {
		return IntegrationView{}, err
	}
	// The check must not be cut short by a client that goes away: the row
	// says initializing until it is decided.
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*s.opts.HTTPTimeout)
	defer cancel()
	accountID, reason, err := p.validate(vctx)
	if errors.Is(err, errInconclusive) {
		rctx := context.WithoutCancel(ctx)
		if p.prev == nil {
			_ = s.st.DeleteIntegration(rctx, shopID, p.kind)
		} else if rerr := s.st.RestoreIntegration(rctx, shopID, p.prev); rerr != nil {
			return IntegrationView{}, rerr
		}
		return IntegrationView{}, app.Wrap(app.EUNAVAILABLE, err, "%s Nothing was changed; try again in a moment.", reason)
	}
	if err != nil {
		return IntegrationView{}, err
	}
	final := p.settings
	switch {
	case reason == "":
		final.Status, final.StatusReason, final.Validated = store.IntegrationActive, "", true
		final.AccountID = orString(accountID, final.AccountID)
	case p.prev != nil && p.prev.ValidatedAt != nil:
		final.Status, final.StatusReason = store.IntegrationPaused, reason
		final.AccountID = orString(final.AccountID, p.prev.AccountID)
	default:
		final.Status, final.StatusReason = store.IntegrationNotConnected, reason
	}
	in, err := s.st.SaveIntegration(context.WithoutCancel(ctx), shopID, final)
	if err != nil {
		return IntegrationView{}, err
	}
	s.log.InfoContext(ctx, "integration saved", "shop_id", shopID, "kind", p.kind, "status", in.Status, "reason", in.StatusReason)
	return viewOf(in), nil
}

// choice is an identity option: the one submitted, else the one saved,
// else the kind's default.
func choice(in *bool, prev *store.Integration, saved func(*store.Integration) bool, def bool) bool {
	switch {
	case in != nil:
		return *in
	case prev != nil:
		return saved(prev)
	}
	return def
}

func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// previous returns the shop's integration of kind, or nil.
func (s *Service) previous(ctx context.Context, shopID app.ShopID, kind string) (*store.Integration, error) {
	in, err := s.st.Integration(ctx, shopID, kind)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return nil, nil
	}
	return in, err
}

// ConnectKlaviyo validates in, checks the key with GET /api/accounts and
// saves the integration (see connect). A bad key (401) and a valid key
// missing a scope (403) get different reasons.
func (s *Service) ConnectKlaviyo(ctx context.Context, shopID app.ShopID, in KlaviyoInput) (IntegrationView, error) {
	prop, err := identity.ParseProperty(in.CommonProperty)
	if err != nil {
		return IntegrationView{}, err
	}
	key := strings.TrimSpace(in.PrivateAPIKey)
	if key != "" && (!strings.HasPrefix(key, "pk_") || len(key) < 8 || strings.ContainsAny(key, " \t\r\n")) {
		return IntegrationView{}, app.FieldError("private_api_key", "A Klaviyo private API key starts with pk_ (Settings › API keys in Klaviyo).")
	}
	prev, err := s.previous(ctx, shopID, KindKlaviyo)
	if err != nil {
		return IntegrationView{}, err
	}
	if key == "" {
		if prev == nil || prev.Credentials == "" {
			return IntegrationView{}, app.FieldError("private_api_key", "Enter the Klaviyo private API key.")
		}
		cred, err := s.open(shopID, KindKlaviyo, prev.Credentials)
		if err != nil {
			return IntegrationView{}, err
		}
		key = cred.PrivateAPIKey
	}
	sealed, err := s.seal(shopID, KindKlaviyo, credentials{PrivateAPIKey: key})
	if err != nil {
		return IntegrationView{}, err
	}
	return s.connect(ctx, shopID, connectPlan{
		kind: KindKlaviyo,
		prev: prev,
		settings: store.IntegrationSettings{
			Kind: KindKlaviyo, CommonProperty: prop.String(), Credentials: sealed, CredentialsHint: vault.Mask(key),
			PhoneFallback: choice(in.PhoneFallback, prev, func(p *store.Integration) bool { return p.PhoneFallback }, true),
			SendPhone:     choice(in.SendPhone, prev, func(p *store.Integration) bool { return p.SendPhone }, false),
		},
		validate: func(ctx context.Context) (string, string, error) {
			c := s.klaviyoClient(key)
			acct, err := c.Account(ctx)
			var ae *klaviyo.APIError
			if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests && ae.RetryAfter <= 3*time.Second {
				// GET /api/accounts allows one call a second: a merchant
				// saving twice in a row waits a moment instead of failing.
				t := time.NewTimer(max(ae.RetryAfter, time.Second))
				select {
				case <-t.C:
					acct, err = c.Account(ctx)
				case <-ctx.Done():
					t.Stop()
				}
			}
			if err == nil {
				return acct.ID, "", nil
			}
			switch {
			case errors.As(err, &ae) && ae.MissingScope():
				return "", fmt.Sprintf("The Klaviyo private API key is valid but lacks a scope (403 %s: %s). "+
					"Create a key with the accounts:read, events:write and profiles:write scopes.", ae.Code, ae.Detail), nil
			case errors.As(err, &ae) && ae.AuthFailure():
				return "", fmt.Sprintf("Klaviyo rejected the private API key (401 %s). "+
					"Check that the whole key was copied and that it was not revoked.", orString(ae.Code, "not_authenticated")), nil
			case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
				return "", fmt.Sprintf("Klaviyo is limiting key checks (15 a minute); wait %s.", max(ae.RetryAfter, time.Second)), errInconclusive
			case errors.As(err, &ae) && ae.Permanent():
				// A 4xx that is not about the key: nothing the merchant
				// can fix by retrying, so say what Klaviyo said.
				return "", fmt.Sprintf("Klaviyo refused the key check (%d %s).", ae.Status, ae.Detail), nil
			}
			return "", "Klaviyo could not be reached to check the key (" + summarize(err) + ").", errInconclusive
		},
	})
}

// ConnectCleverTap validates in, checks the credentials with a dry-run
// upload in the chosen region and saves the integration (see connect).
// CleverTap answers a wrong region like a wrong passcode (401), so on a 401
// the other regions are tried, and when one accepts the credentials the
// reason names it.
func (s *Service) ConnectCleverTap(ctx context.Context, shopID app.ShopID, in CleverTapInput) (IntegrationView, error) {
	prop, err := identity.ParseProperty(in.CommonProperty)
	if err != nil {
		return IntegrationView{}, err
	}
	account := strings.TrimSpace(in.AccountID)
	if account == "" {
		return IntegrationView{}, app.FieldError("account_id", "Enter the CleverTap Account ID (Settings › Project in CleverTap).")
	}
	if len(account) > 64 || strings.ContainsAny(account, " \t\r\n/?#") {
		return IntegrationView{}, app.FieldError("account_id", "That does not look like a CleverTap Account ID (e.g. W84-RZR-RZ7Z).")
	}
	region := strings.ToLower(strings.TrimSpace(in.Region))
	if region == "" {
		region = clevertap.DefaultRegion
	}
	reg, ok := clevertap.LookupRegion(region)
	if !ok {
		return IntegrationView{}, app.FieldError("region", "Unknown CleverTap region %q: use eu1, in1, sg1, us1, aps3, mec1 or sk1.", in.Region)
	}
	passcode := strings.TrimSpace(in.Passcode)
	if strings.ContainsAny(passcode, " \t\r\n") {
		return IntegrationView{}, app.FieldError("passcode", "The passcode contains spaces; copy it again from CleverTap.")
	}
	prev, err := s.previous(ctx, shopID, KindCleverTap)
	if err != nil {
		return IntegrationView{}, err
	}
	if passcode == "" {
		if prev == nil || prev.Credentials == "" || prev.AccountID != account {
			return IntegrationView{}, app.FieldError("passcode", "Enter the CleverTap passcode of this account.")
		}
		cred, err := s.open(shopID, KindCleverTap, prev.Credentials)
		if err != nil {
			return IntegrationView{}, err
		}
		passcode = cred.Passcode
	}
	sealed, err := s.seal(shopID, KindCleverTap, credentials{Passcode: passcode})
	if err != nil {
		return IntegrationView{}, err
	}
	return s.connect(ctx, shopID, connectPlan{
		kind: KindCleverTap,
		prev: prev,
		settings: store.IntegrationSettings{
			Kind: KindCleverTap, CommonProperty: prop.String(), Region: region, AccountID: account,
			Credentials: sealed, CredentialsHint: vault.Mask(passcode),
			PhoneFallback: choice(in.PhoneFallback, prev, func(p *store.Integration) bool { return p.PhoneFallback }, false),
		},
		validate: func(ctx context.Context) (string, string, error) {
			err := s.cleverTapClient(region, account, passcode).Validate(ctx)
			if err == nil {
				return account, "", nil
			}
			var ae *clevertap.APIError
			if !errors.As(err, &ae) || ae.Retryable() {
				return "", "CleverTap could not be reached to check the credentials (" + summarize(err) + ").", errInconclusive
			}
			if !ae.AuthFailure() {
				return "", fmt.Sprintf("CleverTap refused the credential check (%d %s).", ae.Status, ae.Message), nil
			}
			if other, ok := s.probeRegions(ctx, region, account, passcode); ok {
				return "", fmt.Sprintf("Invalid credentials for region %s (%s). These credentials work in %s (%s): choose that server prefix.",
					reg.Code, reg.Name, other.Code, other.Name), nil
			}
			return "", fmt.Sprintf("CleverTap rejected the Account ID or passcode (%d %s) for region %s (%s), and in every other region. "+
				"Copy them from Settings › Project in CleverTap; the passcode is not the SDK account token.", ae.Status, orString(ae.Message, "Invalid Credentials"), reg.Code, reg.Name), nil
		},
	})
}

// probeRegions tries the credentials in every region but skip, at once,
// and returns the first region (in the order of clevertap.Regions) that
// accepts them.
func (s *Service) probeRegions(ctx context.Context, skip, account, passcode string) (clevertap.Region, bool) {
	ok := make([]bool, len(clevertap.Regions))
	var wg sync.WaitGroup
	for i, r := range clevertap.Regions {
		if r.Code == skip {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok[i] = s.cleverTapClient(r.Code, account, passcode).Validate(ctx) == nil
		}()
	}
	wg.Wait()
	for i, r := range clevertap.Regions {
		if ok[i] {
			return r, true
		}
	}
	return clevertap.Region{}, false
}

// Disconnect deletes the shop's integration of kind. Its event definitions,
// its deliveries (pending ones, which are then never sent, and the history
// the stats are computed from) and its profile sync state go with it
// (ON DELETE CASCADE): reconnecting starts from a clean slate. Events
// written while disconnected are not routed, then or later.
func (s *Service) Disconnect(ctx context.Context, shopID app.ShopID, kind string) error {
	kind, err := parseKind(kind, "")
	if err != nil {
		return err
	}
	in, err := s.st.Integration(ctx, shopID, kind)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return app.Errorf(app.ENOTFOUND, "That integration is not connected.")
	}
	if err != nil {
		return err
	}
	if err := s.st.DeleteIntegration(ctx, shopID, kind); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.clients, in.ID)
	s.mu.Unlock()
	s.log.InfoContext(ctx, "integration disconnected", "shop_id", shopID, "kind", kind)
	return nil
}

// summarize returns a short, secret-free description of a sink error.
func summarize(err error) string {
	var kae *klaviyo.APIError
	var cae *clevertap.APIError
	var kte *klaviyo.TransportError
	var cte *clevertap.TransportError
	switch {
	case errors.As(err, &kae):
		return kae.Error()
	case errors.As(err, &cae):
		return cae.Error()
	case errors.As(err, &kte) && kte.Timeout(), errors.As(err, &cte) && cte.Timeout():
		return "timed out"
	case errors.As(err, &kte), errors.As(err, &cte):
		return "no answer: " + rootCause(err).Error()
	}
	return err.Error()
}

func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
