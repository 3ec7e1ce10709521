package templates

// ReferralView is the storefront page a referred friend lands on, served
// through the app proxy: the offer and an email form, the friend's
// discount code once asked for, or why there is none.
type ReferralView struct {
	ReferrerName string // the referrer's first name, "" when unknown
	Offer        string // "10% off" or "USD 5.00 off"
	// Action is where the form posts: the storefront path of this page
	// (the app proxy signs it on the way back). "" hides the form.
	Action string
	Email  string
	Error  string // why the friend gets nothing, user-safe
	// CouponCode is the friend's discount code once given; Again says it
	// was given before.
	CouponCode string
	Again      bool
}
