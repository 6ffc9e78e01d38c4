package loadgen

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Series is one line of a plot.
type Series struct {
	Name  string
	Color color.RGBA
	X, Y  []float64
}

// PlotPNG draws series as lines on linear axes and writes a PNG.
func PlotPNG(w io.Writer, title, xLabel, yLabel string, series []Series) error {
	const W, H, left, right, top, bottom = 800, 480, 80, 20, 40, 60
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	var maxX, maxY float64
	for _, s := range series {
		for i := range s.X {
			maxX, maxY = math.Max(maxX, s.X[i]), math.Max(maxY, s.Y[i])
		}
	}
	if maxX == 0 {
		maxX = 1
	}
	if maxY == 0 {
		maxY = 1
	}
	maxY *= 1.1
	px := func(x float64) int { return left + int(x/maxX*float64(W-left-right)) }
	py := func(y float64) int { return H - bottom - int(y/maxY*float64(H-top-bottom)) }
	grey := color.RGBA{200, 200, 200, 255}
	black := color.RGBA{0, 0, 0, 255}
	text := func(x, y int, s string) {
		d := &font.Drawer{Dst: img, Src: image.NewUniform(black), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	for i := 0; i <= 5; i++ {
		y := maxY * float64(i) / 5
		line(img, left, py(y), W-right, py(y), grey)
		text(5, py(y)+4, fmt.Sprintf("%.2f", y))
		x := maxX * float64(i) / 5
		line(img, px(x), top, px(x), H-bottom, grey)
		text(px(x)-15, H-bottom+18, fmt.Sprintf("%.0f", x))
	}
	line(img, left, H-bottom, W-right, H-bottom, black)
	line(img, left, top, left, H-bottom, black)
	text(left, 20, title)
	text(W/2-len(xLabel)*3, H-15, xLabel)
	text(5, top-8, yLabel)
	for k, s := range series {
		for i := 1; i < len(s.X); i++ {
			thick(img, px(s.X[i-1]), py(s.Y[i-1]), px(s.X[i]), py(s.Y[i]), s.Color)
		}
		for i := range s.X {
			for dx := -3; dx <= 3; dx++ {
				for dy := -3; dy <= 3; dy++ {
					img.Set(px(s.X[i])+dx, py(s.Y[i])+dy, s.Color)
				}
			}
		}
		ly := top + 10 + 16*k
		thick(img, W-right-180, ly, W-right-150, ly, s.Color)
		text(W-right-145, ly+4, s.Name)
	}
	return png.Encode(w, img)
}

func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := math.Abs(float64(x1-x0)), math.Abs(float64(y1-y0))
	n := int(math.Max(dx, dy))
	if n == 0 {
		img.Set(x0, y0, c)
		return
	}
	for i := 0; i <= n; i++ {
		t := float64(i) / float64(n)
		img.Set(x0+int(t*float64(x1-x0)), y0+int(t*float64(y1-y0)), c)
	}
}

func thick(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	for d := -1; d <= 1; d++ {
		line(img, x0, y0+d, x1, y1+d, c)
		line(img, x0+d, y0, x1+d, y1, c)
	}
}
