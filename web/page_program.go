package web

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/perkbridge/perkbridge/app"
	"github.com/perkbridge/perkbridge/app/program"
	"github.com/perkbridge/perkbridge/templates"
)

// maxFormRows bounds the reward and tier rows read from a form.
const maxFormRows = 50

// handleProgramPage shows the program settings form.
func (s *server) handleProgramPage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sh, err := s.st.Shop(ctx, shop.ID)
	if err != nil {
		return err
	}
	settings, err := s.loyalty.GetProgram(ctx, shop.ID)
	if err != nil {
		return err
	}
	currency := shopCurrency(sh.Currency)
	return s.renderProgram(c, http.StatusOK, programForm(settings, currencyExponent(currency)), currency, nil, nil)
}

// renderProgram renders the settings form with its problems.
func (s *server) renderProgram(c echo.Context, status int, form templates.ProgramForm, currency string, errs templates.FieldErrors, problems []templates.Problem) error {
	if errs == nil {
		errs = templates.FieldErrors{}
	}
	return render(c, status, templates.ProgramPage(templates.ProgramView{
		Shell:    s.pageShell(c, "Program", routeAppProgram),
		Action:   s.pageURL(c, routeAppProgramSave, nil),
		Currency: currency,
		Form:     form,
		Errors:   errs,
		Problems: problems,
	}))
}

// handleProgramSavePage saves the program settings. Every problem, of
// reading the form or of the settings' validation, is shown next to its
// input and listed at the top (422); the form keeps what was typed.
func (s *server) handleProgramSavePage(c echo.Context) error {
	shop, err := shopFrom(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sh, err := s.st.Shop(ctx, shop.ID)
	if err != nil {
		return err
	}
	// Start from the stored settings, so fields this form does not show
	// keep their values.
	current, err := s.loyalty.GetProgram(ctx, shop.ID)
	if err != nil {
		return err
	}
	if err := c.Request().ParseForm(); err != nil {
		return app.Errorf(app.EBADREQUEST, "The form could not be read.")
	}
	currency := shopCurrency(sh.Currency)
	p := parseProgramForm(c.Request().PostForm, current, currencyExponent(currency))
	if len(p.errs) > 0 {
		// Show every problem at once: the validation's too, for the fields
		// that could be read.
		var ve *program.ValidationError
		if errors.As(p.settings.Validate(), &ve) {
			for _, pr := range ve.Problems {
				p.add(formField(pr.Field), pr.Message)
			}
		}
	} else {
		err := s.loyalty.SaveProgram(ctx, shop.ID, p.settings)
		if err == nil {
			return s.pageRedirect(c, routeAppProgram, "program-saved", nil)
		}
		var ve *program.ValidationError
		if !errors.As(err, &ve) {
			if _, errs, ok := pageProblem(err); ok {
				p.add("", firstProblem(errs))
			} else {
				return err
			}
		} else {
			for _, pr := range ve.Problems {
				p.add(formField(pr.Field), pr.Message)
			}
		}
	}
	problems := p.problems()
	for i := range problems {
		problems[i].Label = programLabel(problems[i].Field)
	}
	return s.renderProgram(c, http.StatusUnprocessableEntity, p.form, currency, p.errs, problems)
}

// programLabels name the program's inputs in the error summary.
var programLabels = map[string]string{
	"points_per_currency_unit":       "Points per currency unit",
	"earn_on":                        "Credit purchase points",
	"minimum_order_minor":            "Minimum order",
	"signup_points":                  "Points for creating an account",
	"expiry_months":                  "Points expire after",
	"pending_days":                   "Spendable after",
	"guest_points_days":              "Guest orders' points wait",
	"retention_days":                 "Delivery log retention",
	"reminder_days":                  "Expiry reminders",
	"unused_nudge.threshold_points":  "Unused points reminder: smallest balance",
	"unused_nudge.after_days":        "Unused points reminder: days",
	"rewards":                        "Rewards",
	"referral.referrer_points":       "Referrals: points for the referrer",
	"referral.friend_discount_type":  "Referrals: friend's discount",
	"referral.friend_discount_value": "Referrals: friend's discount value",
	"tiers.metric":                   "VIP tiers: reached by",
	"tiers.window":                   "VIP tiers: counted over",
	"tiers.window_months":            "VIP tiers: window",
	"tiers.downgrade":                "VIP tiers: move down",
	"tiers.levels":                   "VIP tiers",
	"review_points":                  "Points for a review",
	"review_request_days":            "Ask for a review after",
	"birthday_points":                "Birthday points",
}

// rowLabels name the columns of the reward and tier rows.
var rowLabels = map[string]string{
	"id": "ID", "name": "name", "points_cost": "points", "discount_type": "discount", "value": "value",
	"min_subtotal_minor": "minimum subtotal", "expires_after_days": "code validity",
	"key": "key", "threshold": "threshold", "multiplier": "points multiplier",
}

// programLabel is the label of the input named by a settings path.
func programLabel(field string) string {
	if l, ok := programLabels[field]; ok {
		return l
	}
	for prefix, what := range map[string]string{"rewards[": "Reward", "tiers.levels[": "Tier"} {
		rest, ok := strings.CutPrefix(field, prefix)
		if !ok {
			continue
		}
		idx, col, ok := strings.Cut(rest, "].")
		n, err := strconv.Atoi(idx)
		if !ok || err != nil {
			return ""
		}
		return what + " " + strconv.Itoa(n+1) + ": " + rowLabels[col]
	}
	return ""
}

// formField maps a settings path to the input that shows it: reminder
// days are one comma-separated input.
func formField(path string) string {
	if strings.HasPrefix(path, "reminder_days[") {
		return "reminder_days"
	}
	return path
}

// programForm is settings as the form shows them.
func programForm(st program.Settings, exp int) templates.ProgramForm {
	f := templates.ProgramForm{
		PointsPerCurrencyUnit: st.PointsPerCurrencyUnit.String(),
		EarnOn:                string(st.EarnOn),
		MinimumOrder:          minorString(st.MinimumOrderMinor, exp),
		IncludeShipping:       st.EarnBase.IncludeShipping,
		IncludeTax:            st.EarnBase.IncludeTax,
		CountTestOrders:       st.CountTestOrders,
		WelcomeExisting:       st.WelcomeExistingAccounts,
		ReturnExpiredRewards:  st.ReturnExpiredRewardPoints,
		SignupPoints:          strconv.FormatInt(st.SignupPoints, 10),
		BirthdayPoints:        strconv.FormatInt(st.BirthdayPoints, 10),
		ReviewPoints:          strconv.FormatInt(st.ReviewPoints, 10),
		ReviewRequestDays:     strconv.Itoa(st.ReviewRequestDays),
		PendingDays:           strconv.Itoa(st.PendingDays),
		GuestPointsDays:       strconv.Itoa(st.GuestPointsDays),
		RetentionDays:         strconv.Itoa(st.RetentionDays),
		ExpiryMonths:          strconv.Itoa(st.ExpiryMonths),
		NudgeEnabled:          st.UnusedNudge.Enabled,
		NudgeThreshold:        strconv.FormatInt(st.UnusedNudge.ThresholdPoints, 10),
		NudgeAfterDays:        strconv.Itoa(st.UnusedNudge.AfterDays),
		ReferralEnabled:       st.Referral.Enabled,
		ReferrerPoints:        strconv.FormatInt(st.Referral.ReferrerPoints, 10),
		FriendDiscountType:    string(st.Referral.FriendDiscountType),
		FriendDiscountValue:   st.Referral.FriendDiscountValue.String(),
		TiersEnabled:          st.Tiers.Enabled,
		TierMetric:            string(st.Tiers.Metric),
		TierWindow:            string(st.Tiers.Window),
		TierWindowMonths:      strconv.Itoa(st.Tiers.WindowMonths),
		TierDowngrade:         string(st.Tiers.Downgrade),
	}
	days := make([]string, len(st.ReminderDays))
	for i, d := range st.ReminderDays {
		days[i] = strconv.Itoa(d)
	}
	f.ReminderDays = strings.Join(days, ", ")
	for _, r := range st.Rewards {
		f.Rewards = append(f.Rewards, templates.RewardForm{
			ID: r.ID, Name: r.Name, PointsCost: strconv.FormatInt(r.PointsCost, 10), DiscountType: string(r.DiscountType),
			Value: r.Value.String(), MinSubtotal: minorString(r.MinSubtotalMinor, exp), ExpiresAfterDays: strconv.Itoa(r.ExpiresAfterDays),
		})
	}
	f.Rewards = append(f.Rewards, templates.RewardForm{DiscountType: string(program.DiscountFixedAmount)})
	for _, t := range st.Tiers.Levels {
		th := strconv.FormatInt(t.Threshold, 10)
		if st.Tiers.Metric == program.MetricAmountSpent {
			th = minorString(t.Threshold, exp)
		}
		f.Tiers = append(f.Tiers, templates.TierForm{Key: t.Key, Name: t.Name, Threshold: th, Multiplier: t.Multiplier.String()})
	}
	f.Tiers = append(f.Tiers, templates.TierForm{})
	return f
}

// programParse is a submitted settings form being read.
type programParse struct {
	settings program.Settings
	form     templates.ProgramForm
	errs     templates.FieldErrors
	order    []string // input names in form order, for the error summary
	exp      int
}

func (p *programParse) add(field, msg string) {
	if _, ok := p.errs[field]; !ok {
		p.errs[field] = msg
	}
}

func (p *programParse) seen(field string) { p.order = append(p.order, field) }

// problems lists the errors in the order of the form.
func (p *programParse) problems() []templates.Problem {
	out := make([]templates.Problem, 0, len(p.errs))
	for f, m := range p.errs {
		out = append(out, templates.Problem{Field: f, Message: m})
	}
	pos := func(f string) int {
		if i := slices.Index(p.order, f); i >= 0 {
			return i
		}
		return len(p.order)
	}
	slices.SortStableFunc(out, func(a, b templates.Problem) int {
		if d := pos(a.Field) - pos(b.Field); d != 0 {
			return d
		}
		return strings.Compare(a.Field, b.Field)
	})
	return out
}

func (p *programParse) int64(field, raw string) int64 {
	p.seen(field)
	raw = strings.ReplaceAll(strings.TrimSpace(raw), ",", "")
	if raw == "" {
		return 0
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		p.add(field, "Enter a whole number, such as 100.")
	}
	return n
}

func (p *programParse) int(field, raw string) int {
	n := p.int64(field, raw)
	if n > 1<<31-1 || n < -(1<<31) {
		p.add(field, "That number is too large.")
		return 0
	}
	return int(n)
}

func (p *programParse) decimal(field, raw string) decimal.Decimal {
	p.seen(field)
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return decimal.Zero
	}
	d, err := decimal.NewFromString(raw)
	if err != nil {
		p.add(field, "Enter a number, such as 1.5.")
		return decimal.Zero
	}
	return d
}

// money reads an amount in major units into minor units.
func (p *programParse) money(field, raw string) int64 {
	d := p.decimal(field, strings.ReplaceAll(raw, ",", ""))
	if _, bad := p.errs[field]; bad {
		return 0
	}
	if d.IsNegative() {
		p.add(field, "Enter 0 or more.")
		return 0
	}
	if -d.Exponent() > int32(p.exp) {
		p.add(field, "Use at most "+strconv.Itoa(p.exp)+" decimal places.")
		return 0
	}
	m := d.Shift(int32(p.exp))
	if m.GreaterThan(decimal.NewFromInt(program.MaxMoneyMinor)) {
		p.add(field, "That amount is too large.")
		return 0
	}
	return m.IntPart()
}

// formRows returns the indexes of the rows of prefix ("rewards[") in the form.
func formRows(form url.Values, prefix string) []int {
	seen := map[int]bool{}
	for k := range form {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		i := strings.IndexByte(rest, ']')
		if i <= 0 {
			continue
		}
		n, err := strconv.Atoi(rest[:i])
		if err == nil && n >= 0 && n < maxFormRows {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

var slugRe = regexp.MustCompile(`[^a-z0-9]+`)

// pageSlug makes an id from a name, for rows added without one.
func pageSlug(name string) string {
	s := strings.Trim(slugRe.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if len(s) > program.MaxKeyLen {
		s = strings.TrimRight(s[:program.MaxKeyLen], "-")
	}
	return s
}

// parseProgramForm reads a submitted form over current. Rows marked for
// removal and blank rows are dropped, so the indexes of the problems match
// the rows shown back.
func parseProgramForm(form url.Values, current program.Settings, exp int) *programParse {
	p := &programParse{settings: current, errs: templates.FieldErrors{}, exp: exp}
	st := &p.settings
	f := &p.form
	get := func(k string) string { return strings.TrimSpace(form.Get(k)) }
	on := func(k string) bool { p.seen(k); return form.Get(k) == "true" }

	f.PointsPerCurrencyUnit = get("points_per_currency_unit")
	st.PointsPerCurrencyUnit = p.decimal("points_per_currency_unit", f.PointsPerCurrencyUnit)
	f.EarnOn = get("earn_on")
	p.seen("earn_on")
	st.EarnOn = program.EarnOn(f.EarnOn)
	f.MinimumOrder = get("minimum_order_minor")
	st.MinimumOrderMinor = p.money("minimum_order_minor", f.MinimumOrder)
	f.SignupPoints = get("signup_points")
	st.SignupPoints = p.int64("signup_points", f.SignupPoints)
	f.IncludeShipping, f.IncludeTax = on("earn_base.include_shipping"), on("earn_base.include_tax")
	st.EarnBase = program.EarnBase{IncludeShipping: f.IncludeShipping, IncludeTax: f.IncludeTax}
	f.CountTestOrders, f.WelcomeExisting = on("count_test_orders"), on("welcome_existing_accounts")
	st.CountTestOrders, st.WelcomeExistingAccounts = f.CountTestOrders, f.WelcomeExisting
	f.ReturnExpiredRewards = on("return_expired_reward_points")
	st.ReturnExpiredRewardPoints = f.ReturnExpiredRewards

	f.ExpiryMonths = get("expiry_months")
	st.ExpiryMonths = p.int("expiry_months", f.ExpiryMonths)
	f.PendingDays = get("pending_days")
	st.PendingDays = p.int("pending_days", f.PendingDays)
	f.GuestPointsDays = get("guest_points_days")
	st.GuestPointsDays = p.int("guest_points_days", f.GuestPointsDays)
	f.RetentionDays = get("retention_days")
	st.RetentionDays = p.int("retention_days", f.RetentionDays)
	f.ReminderDays = get("reminder_days")
	p.seen("reminder_days")
	st.ReminderDays = []int{}
	for _, part := range strings.FieldsFunc(f.ReminderDays, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		n, err := strconv.Atoi(part)
		if err != nil {
			p.add("reminder_days", "Enter whole numbers of days separated by commas, such as 30, 7, 1.")
			break
		}
		st.ReminderDays = append(st.ReminderDays, n)
	}
	f.NudgeEnabled = on("unused_nudge.enabled")
	f.NudgeThreshold, f.NudgeAfterDays = get("unused_nudge.threshold_points"), get("unused_nudge.after_days")
	st.UnusedNudge = program.UnusedNudge{
		Enabled:         f.NudgeEnabled,
		ThresholdPoints: p.int64("unused_nudge.threshold_points", f.NudgeThreshold),
		AfterDays:       p.int("unused_nudge.after_days", f.NudgeAfterDays),
	}

	p.seen("rewards")
	st.Rewards = []program.Reward{}
	for _, i := range formRows(form, "rewards[") {
		in := "rewards[" + strconv.Itoa(i) + "]."
		r := templates.RewardForm{
			ID: get(in + "id"), Name: get(in + "name"), PointsCost: get(in + "points_cost"), DiscountType: get(in + "discount_type"),
			Value: get(in + "value"), MinSubtotal: get(in + "min_subtotal_minor"), ExpiresAfterDays: get(in + "expires_after_days"),
		}
		if form.Get(in+"remove") == "true" || (r.ID == "" && r.Name == "" && r.PointsCost == "" && r.Value == "") {
			continue
		}
		if r.ID == "" {
			r.ID = pageSlug(r.Name)
		}
		out := "rewards[" + strconv.Itoa(len(st.Rewards)) + "]."
		reward := program.Reward{ID: r.ID, Name: r.Name, DiscountType: program.DiscountType(r.DiscountType)}
		p.seen(out + "id")
		p.seen(out + "name")
		reward.PointsCost = p.int64(out+"points_cost", r.PointsCost)
		p.seen(out + "discount_type")
		reward.Value = p.decimal(out+"value", r.Value)
		reward.MinSubtotalMinor = p.money(out+"min_subtotal_minor", r.MinSubtotal)
		reward.ExpiresAfterDays = p.int(out+"expires_after_days", r.ExpiresAfterDays)
		st.Rewards = append(st.Rewards, reward)
		f.Rewards = append(f.Rewards, r)
	}
	f.Rewards = append(f.Rewards, templates.RewardForm{DiscountType: string(program.DiscountFixedAmount)})

	f.ReferralEnabled = on("referral.enabled")
	f.ReferrerPoints, f.FriendDiscountType, f.FriendDiscountValue = get("referral.referrer_points"), get("referral.friend_discount_type"), get("referral.friend_discount_value")
	st.Referral = program.Referral{
		Enabled:            f.ReferralEnabled,
		ReferrerPoints:     p.int64("referral.referrer_points", f.ReferrerPoints),
		FriendDiscountType: program.DiscountType(f.FriendDiscountType),
	}
	p.seen("referral.friend_discount_type")
	st.Referral.FriendDiscountValue = p.decimal("referral.friend_discount_value", f.FriendDiscountValue)

	f.TiersEnabled = on("tiers.enabled")
	f.TierMetric, f.TierWindow, f.TierWindowMonths, f.TierDowngrade = get("tiers.metric"), get("tiers.window"), get("tiers.window_months"), get("tiers.downgrade")
	p.seen("tiers.metric")
	p.seen("tiers.window")
	st.Tiers = program.Tiers{
		Enabled: f.TiersEnabled, Metric: program.Metric(f.TierMetric), Window: program.Window(f.TierWindow),
		WindowMonths: p.int("tiers.window_months", f.TierWindowMonths), Downgrade: program.Downgrade(f.TierDowngrade),
		Levels: []program.Tier{},
	}
	p.seen("tiers.downgrade")
	p.seen("tiers.levels")
	for _, i := range formRows(form, "tiers.levels[") {
		in := "tiers.levels[" + strconv.Itoa(i) + "]."
		t := templates.TierForm{Key: get(in + "key"), Name: get(in + "name"), Threshold: get(in + "threshold"), Multiplier: get(in + "multiplier")}
		if form.Get(in+"remove") == "true" || (t.Key == "" && t.Name == "" && t.Threshold == "" && t.Multiplier == "") {
			continue
		}
		if t.Key == "" {
			t.Key = pageSlug(t.Name)
		}
		out := "tiers.levels[" + strconv.Itoa(len(st.Tiers.Levels)) + "]."
		level := program.Tier{Key: t.Key, Name: t.Name}
		p.seen(out + "key")
		p.seen(out + "name")
		if st.Tiers.Metric == program.MetricAmountSpent {
			level.Threshold = p.money(out+"threshold", t.Threshold)
		} else {
			level.Threshold = p.int64(out+"threshold", t.Threshold)
		}
		if t.Multiplier == "" {
			t.Multiplier = "1"
		}
		level.Multiplier = p.decimal(out+"multiplier", t.Multiplier)
		st.Tiers.Levels = append(st.Tiers.Levels, level)
		f.Tiers = append(f.Tiers, t)
	}
	f.Tiers = append(f.Tiers, templates.TierForm{})

	f.ReviewPoints, f.ReviewRequestDays, f.BirthdayPoints = get("review_points"), get("review_request_days"), get("birthday_points")
	st.ReviewPoints = p.int64("review_points", f.ReviewPoints)
	st.ReviewRequestDays = p.int("review_request_days", f.ReviewRequestDays)
	st.BirthdayPoints = p.int64("birthday_points", f.BirthdayPoints)
	p.seen("")
	return p
}

// shopCurrency is the shop's currency, USD until Shopify told us.
func shopCurrency(code string) string {
	if code == "" {
		return "USD"
	}
	return strings.ToUpper(code)
}

// currencyExponent is the number of minor-unit digits of an ISO 4217
// currency, as Shopify reports amounts: 0 for currencies without a minor
// unit, 3 for the dinar family, 2 otherwise.
func currencyExponent(code string) int {
	switch code {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	}
	return 2
}

// minorString writes minor units as a major amount without trailing
// zeros: 50000 → "500", 1250 → "12.5".
func minorString(minor int64, exp int) string {
	return decimal.New(minor, -int32(exp)).String()
}
