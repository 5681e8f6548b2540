//go:build cuda

package model

// Built with `-tags cuda` (the Makefile adds it when nvcc exists): links the
// CUDA backend that scripts/llama-build.sh builds with GGML_CUDA=ON.

/*
#cgo LDFLAGS: -L${SRCDIR}/../.llama/lib -lggml-cuda -L/usr/local/cuda/lib64 -lcudart -lcublas -lcublasLt -lcuda
*/
import "C"
