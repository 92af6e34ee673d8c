// Only for tools/check_kernels.py (SC_KERNEL_GUARD): emulates what the Metal
// Shading Language offers so a kernel header that leans on the C++ standard
// library, exceptions or dynamic memory fails to compile on the CPU too.
#pragma once
#define SC_FN inline
#define SC_DEVICE __attribute__((unused))
#define SC_THREADGROUP __attribute__((unused))
#define SC_THREAD __attribute__((unused))
#define SC_CONSTANT const
#define SC_BITS_OF_FLOAT(x) __builtin_bit_cast(unsigned int, (float)(x))
#define SC_FLOAT_OF_BITS(x) __builtin_bit_cast(float, (unsigned int)(x))
typedef unsigned int sc_u32;
typedef int sc_i32;

// The MSL math overload set (float; double only as far as the CPU needs it).
#define SC_GUARD_MATH1(f) float f(float); double f(double);
SC_GUARD_MATH1(exp) SC_GUARD_MATH1(log) SC_GUARD_MATH1(sqrt) SC_GUARD_MATH1(tanh)
SC_GUARD_MATH1(sin) SC_GUARD_MATH1(cos) SC_GUARD_MATH1(fabs) SC_GUARD_MATH1(floor)
SC_GUARD_MATH1(ceil) SC_GUARD_MATH1(expm1) SC_GUARD_MATH1(log1p) SC_GUARD_MATH1(rsqrt)
float pow(float, float); double pow(double, double);
float fmin(float, float); double fmin(double, double);
float fmax(float, float); double fmax(double, double);
#undef SC_GUARD_MATH1

// What MSL does not have: make any use of it a compile error.
#define std SC_KERNEL_GUARD_no_std_namespace_in_kernels
#define new SC_KERNEL_GUARD_no_new_in_kernels
#define delete SC_KERNEL_GUARD_no_delete_in_kernels
#define virtual SC_KERNEL_GUARD_no_virtual_in_kernels
#define erf SC_KERNEL_GUARD_msl_has_no_erf_use_sc_erf
#define malloc SC_KERNEL_GUARD_no_malloc_in_kernels
