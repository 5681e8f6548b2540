package model

// The pinned llama.cpp is built as static libraries by scripts/llama-build.sh
// into a cache outside the checkout and linked here through the .llama
// symlink it leaves in the repository root (run `make llama`).

/*
#cgo CFLAGS: -I${SRCDIR}/../.llama/include -O2
#cgo LDFLAGS: -L${SRCDIR}/../.llama/lib -lllama -lggml -lggml-cpu -lggml-base -lstdc++ -lm -lpthread -lgomp
#cgo linux CFLAGS: -fopenmp
#cgo linux LDFLAGS: -ldl
#cgo darwin LDFLAGS: -lggml-metal -lggml-blas -framework Foundation -framework Metal -framework MetalKit -framework Accelerate
*/
import "C"
