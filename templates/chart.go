package templates

import (
	"strconv"
	"strings"
)

// The chart's drawing box. The SVG carries these as width and height (and
// CSS keeps the ratio), so the browser reserves the space before it draws:
// no layout shift.
const (
	chartW      = 720
	chartH      = 200
	chartLeft   = 48 // room for the y-axis labels
	chartRight  = 8
	chartTop    = 12
	chartBottom = 28 // room for the x-axis labels
	maxXLabels  = 12
)

// chartLayout is a Chart turned into coordinates.
type chartLayout struct {
	Ticks  []chartTick
	Bars   []chartBar
	Labels []chartLabel
	Empty  bool
}

type chartTick struct {
	Y     string
	Label string
}

type chartBar struct {
	Title    string // the bucket and every series' value, for the tooltip
	Segments []chartSegment
}

type chartSegment struct {
	Key        string
	X, Y, W, H string
	Title      string
}

type chartLabel struct {
	X, Text string
}

// layoutChart computes the geometry of c: a y axis from 0 to a round
// maximum with four gridlines, one bar per bucket with its series stacked
// bottom-up, and at most maxXLabels x-axis labels.
func layoutChart(c Chart) chartLayout {
	var l chartLayout
	var peak int64
	for _, b := range c.Buckets {
		var sum int64
		for _, v := range b.Values {
			if c.Grouped {
				sum = max(sum, v)
			} else {
				sum += max(v, 0)
			}
		}
		peak = max(peak, sum)
	}
	l.Empty = peak == 0
	top := niceCeil(peak)
	plotW := float64(chartW - chartLeft - chartRight)
	plotH := float64(chartH - chartTop - chartBottom)
	for i := 0; i <= 4; i++ {
		v := top * int64(i) / 4
		y := float64(chartTop) + plotH - plotH*float64(v)/float64(top)
		l.Ticks = append(l.Ticks, chartTick{Y: num(y), Label: formatCount(v)})
	}
	n := len(c.Buckets)
	if n == 0 {
		return l
	}
	slot := plotW / float64(n)
	barW := min(slot*0.7, 40)
	step := (n + maxXLabels - 1) / maxXLabels
	for i, b := range c.Buckets {
		x := float64(chartLeft) + slot*float64(i) + (slot-barW)/2
		base := float64(chartTop) + plotH
		bar := chartBar{Title: bucketTitle(c, b)}
		for j, v := range b.Values {
			if v <= 0 || j >= len(c.Series) {
				continue
			}
			h := plotH * float64(v) / float64(top)
			sx, sw := x, barW
			if c.Grouped {
				// Side by side: each series its share of the bar's width,
				// from the axis.
				sw = barW / float64(len(c.Series))
				sx = x + sw*float64(j)
				base = float64(chartTop) + plotH
			}
			base -= h
			bar.Segments = append(bar.Segments, chartSegment{
				Key: c.Series[j].Key, X: num(sx), Y: num(base), W: num(sw), H: num(h),
				Title: b.Full + ": " + formatCount(v) + " " + c.Series[j].Label,
			})
		}
		l.Bars = append(l.Bars, bar)
		if i%step == 0 {
			l.Labels = append(l.Labels, chartLabel{X: num(x + barW/2), Text: b.Label})
		}
	}
	return l
}

func bucketTitle(c Chart, b ChartBucket) string {
	parts := make([]string, 0, len(c.Series))
	for j, s := range c.Series {
		if j < len(b.Values) {
			parts = append(parts, formatCount(b.Values[j])+" "+s.Label)
		}
	}
	return b.Full + ": " + strings.Join(parts, ", ")
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 4, so
// four gridlines stay whole numbers).
func niceCeil(n int64) int64 {
	if n <= 4 {
		return 4
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 4, 5, 8} {
			if m*p >= n && (m*p)%4 == 0 {
				return m * p
			}
		}
	}
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// chartTotal sums series j over every bucket.
func chartTotal(c Chart, j int) int64 {
	var sum int64
	for _, b := range c.Buckets {
		if j < len(b.Values) {
			sum += b.Values[j]
		}
	}
	return sum
}
