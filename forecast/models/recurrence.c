/* The recurrent layers' loops over time, forward and backward: torch's tanh RNN, GRU and LSTM;
 * and the optimiser step of a training step without autograd.
 *
 * forecast/models/kernels.py compiles this file once per machine (with REAL float and with
 * REAL double) and forecast/models/recurrence.py calls it through ctypes: one call runs a
 * layer's whole forward pass, one its whole backpropagation through time (Werbos 1990). At
 * this project's sizes (hidden 32, batches of 64 windows of 30 steps) torch spends most of a
 * recurrent layer's time in per-operation overhead; here each step is two small matrix
 * products in registers and one fused pass over the gates. forecast/models/compiled_step.py
 * adds adam_step (clipping and Adam over a flat parameter buffer).
 *
 * Layouts (row-major, contiguous), time-major: x (T, B, I), out (T, B, H), act (T, B, G);
 * weights as torch keeps them, w_ih (G, I) and w_hh (G, H) with G = gates * H, gates in
 * torch's order (r, z, n for the GRU; i, f, g, o for the LSTM). The recurrent and input
 * weights' gradients are left to the caller (one matrix product each over all steps, from
 * d); the biases' gradients are summed here.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef REAL
#define REAL float
#endif
typedef REAL real;

#if REAL_IS_DOUBLE
static inline real exp_(real x) { return exp(x); }
static inline real sqrt_(real x) { return sqrt(x); }
#else
/* exp in float32 (Cephes' expf): x = n ln2 + r with |r| <= ln2 / 2, e^r by a polynomial of
 * degree 6, 2^n from the exponent bits; relative error about 2e-7 on [-87, 88]. No calls and
 * no branches, so that the loops below vectorise. */
static inline real exp_(real x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}
#endif
#if !REAL_IS_DOUBLE
static inline real sqrt_(real x) { return sqrtf(x); }
#endif
static inline real sigmoid_(real x) { return (real)1 / ((real)1 + exp_(-x)); }
static inline real tanh_(real x) { return (real)2 / ((real)1 + exp_(-2 * x)) - (real)1; }

/* ---- small matrix products ------------------------------------------------------------ */
/* GCC vector extensions: AVX, SSE or NEON code, whatever the target has. */
typedef real vec __attribute__((vector_size(32)));
#define LANES ((int64_t)(sizeof(vec) / sizeof(real)))
static inline vec load_(const real *p) {
    vec v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store_(real *p, vec v) { memcpy(p, &v, sizeof v); }

/* Rows r .. r + rows - 1, columns j .. j + 2 LANES - 1 of out = init + a @ m (see gemm),
 * held in registers over the whole sum; inlined with rows a constant, so the loops over i
 * unroll. */
static inline __attribute__((always_inline)) void block(
    real *restrict out, const real *restrict a, int64_t lda, const real *restrict m,
    const real *restrict init, int64_t r, int64_t j, int64_t K, int64_t N, const int rows) {
    vec c[6][2];
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < 2; v++)
            c[i][v] = load_((init ? init : out + (r + i) * N) + j + v * LANES);
    for (int64_t k = 0; k < K; k++) {
        const vec m0 = load_(m + k * N + j), m1 = load_(m + k * N + j + LANES);
        for (int i = 0; i < rows; i++) {
            const real s = a[(r + i) * lda + k];
            c[i][0] += s * m0;
            c[i][1] += s * m1;
        }
    }
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < 2; v++) store_(out + (r + i) * N + j + v * LANES, c[i][v]);
}

/* out (R, N) = init + a (R, K) @ m (K, N): a's rows lda apart, m row-major, init one row
 * (broadcast to every row) or NULL (out's own values: accumulate). Register blocks of 6 rows
 * by 2 vectors (12 accumulators: AVX2's 16 registers less the two rows of m and the
 * broadcast), then 4 rows, then single rows, when N allows; plain loops otherwise. */
static void gemm(real *restrict out, const real *restrict a, int64_t lda, const real *restrict m,
                 const real *restrict init, int64_t R, int64_t K, int64_t N) {
    const int64_t W = 2 * LANES;
    if (N % W) {
        for (int64_t r = 0; r < R; r++) {
            real *restrict o = out + r * N;
            if (init)
                for (int64_t j = 0; j < N; j++) o[j] = init[j];
            for (int64_t k = 0; k < K; k++) {
                const real s = a[r * lda + k];
                for (int64_t j = 0; j < N; j++) o[j] += s * m[k * N + j];
            }
        }
        return;
    }
    int64_t r = 0;
    for (; r + 6 <= R; r += 6)
        for (int64_t j = 0; j < N; j += W) block(out, a, lda, m, init, r, j, K, N, 6);
    for (; r + 4 <= R; r += 4)
        for (int64_t j = 0; j < N; j += W) block(out, a, lda, m, init, r, j, K, N, 4);
    for (; r < R; r++)
        for (int64_t j = 0; j < N; j += W) block(out, a, lda, m, init, r, j, K, N, 1);
}

static void transpose(real *restrict wt, const real *restrict w, int64_t G, int64_t K) {
    for (int64_t j = 0; j < G; j++)
        for (int64_t k = 0; k < K; k++) wt[k * G + j] = w[j * K + k];
}

/* acc (B, G) = bias + x_t w_ih^T (+ h_{t-1} w_hh^T when t > 0); wt holds w_ih^T (I, G) then
 * w_hh^T (H, G) */
static void gates(real *restrict acc, const real *restrict x, const real *restrict hp,
                  const real *restrict wt, const real *restrict bias, int64_t t, int64_t B,
                  int64_t I, int64_t H, int64_t G) {
    gemm(acc, x + t * B * I, I, wt, bias, B, I, G);
    if (hp) gemm(acc, hp, H, wt + I * G, 0, B, H, G);
}

/* sum over the batch of d (B, G) into db (G) */
static void bias_grad(real *restrict db, const real *restrict d, int64_t B, int64_t G) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < G; j++) db[j] += d[b * G + j];
}

/* ---- tanh RNN: h_t = tanh(W_ih x_t + W_hh h_{t-1} + bias), bias = b_ih + b_hh ---------- */
/* work: (I + H) H */
void rnn_forward(const real *restrict x, const real *restrict w_ih, const real *restrict w_hh,
                 const real *restrict bias, real *restrict out, real *restrict work, int64_t T,
                 int64_t B, int64_t I, int64_t H) {
    transpose(work, w_ih, H, I);
    transpose(work + I * H, w_hh, H, H);
    for (int64_t t = 0; t < T; t++) {
        real *restrict h = out + t * B * H;
        gates(h, x, t ? h - B * H : 0, work, bias, t, B, I, H, H);
        for (int64_t i = 0; i < B * H; i++) h[i] = tanh_(h[i]);
    }
}

/* grad (T, B, H): the loss's gradient by each h_t, not through later steps. Writes d (T, B, H),
 * the gradient by each step's pre-activation, and adds its sum to db (H); work: B H */
void rnn_backward(const real *restrict grad, const real *restrict out,
                  const real *restrict w_hh, real *restrict d, real *restrict db,
                  real *restrict work, int64_t T, int64_t B, int64_t H) {
    real *restrict dh = work; /* the gradient by h_t through later steps */
    memset(dh, 0, sizeof(real) * B * H);
    for (int64_t t = T - 1; t >= 0; t--) {
        const real *restrict h = out + t * B * H, *restrict g = grad + t * B * H;
        real *restrict dt = d + t * B * H;
        for (int64_t i = 0; i < B * H; i++) dt[i] = (g[i] + dh[i]) * (1 - h[i] * h[i]);
        bias_grad(db, dt, B, H);
        memset(dh, 0, sizeof(real) * B * H);
        gemm(dh, dt, H, w_hh, 0, B, H, H);
    }
}

/* ---- GRU, as torch: r = s(W_ir x + b_ir + W_hr h + b_hr), z likewise,
 *      n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h_t = (1 - z) n + z h_{t-1} ----------- */
/* act (T, B, 3H): r, z, n; hn (T, B, H): W_hn h_{t-1} + b_hn; work: (I + H) 3H + 2 B 3H */
void gru_forward(const real *restrict x, const real *restrict w_ih, const real *restrict w_hh,
                 const real *restrict b_ih, const real *restrict b_hh, real *restrict out,
                 real *restrict act, real *restrict hn, real *restrict work, int64_t T,
                 int64_t B, int64_t I, int64_t H) {
    const int64_t G = 3 * H;
    real *restrict wt = work, *restrict gi = work + (I + H) * G, *restrict gh = gi + B * G;
    transpose(wt, w_ih, G, I);
    transpose(wt + I * G, w_hh, G, H);
    for (int64_t t = 0; t < T; t++) {
        const real *restrict hp = t ? out + (t - 1) * B * H : 0;
        gemm(gi, x + t * B * I, I, wt, b_ih, B, I, G);
        if (hp)
            gemm(gh, hp, H, wt + I * G, b_hh, B, H, G);
        else
            for (int64_t b = 0; b < B; b++) memcpy(gh + b * G, b_hh, sizeof(real) * G);
        for (int64_t b = 0; b < B; b++) {
            const real *restrict pi = gi + b * G, *restrict ph = gh + b * G;
            real *restrict a = act + (t * B + b) * G, *restrict nh = hn + (t * B + b) * H;
            real *restrict h = out + (t * B + b) * H;
            for (int64_t j = 0; j < 2 * H; j++) a[j] = sigmoid_(pi[j] + ph[j]);
            for (int64_t j = 0; j < H; j++) {
                nh[j] = ph[2 * H + j];
                a[2 * H + j] = tanh_(pi[2 * H + j] + a[j] * ph[2 * H + j]);
            }
            const real *restrict z = a + H, *restrict n = a + 2 * H;
            if (hp) {
                const real *restrict hpb = hp + b * H;
                for (int64_t j = 0; j < H; j++) h[j] = (1 - z[j]) * n[j] + z[j] * hpb[j];
            } else {
                for (int64_t j = 0; j < H; j++) h[j] = (1 - z[j]) * n[j];
            }
        }
    }
}

/* Writes d_in (T, B, 3H), the gradient by W_ih x_t + b_ih, and d_hid (T, B, 3H), by
 * W_hh h_{t-1} + b_hh; adds their sums to db_ih and db_hh; work: 2 B H */
void gru_backward(const real *restrict grad, const real *restrict out, const real *restrict act,
                  const real *restrict hn, const real *restrict w_hh, real *restrict d_in,
                  real *restrict d_hid, real *restrict db_ih, real *restrict db_hh,
                  real *restrict work, int64_t T, int64_t B, int64_t H) {
    const int64_t G = 3 * H;
    real *restrict dh = work, *restrict zero = work + B * H;
    memset(work, 0, sizeof(real) * 2 * B * H);
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t b = 0; b < B; b++) {
            const real *restrict a = act + (t * B + b) * G, *restrict nh = hn + (t * B + b) * H;
            const real *restrict r = a, *restrict z = a + H, *restrict n = a + 2 * H;
            const real *restrict g = grad + (t * B + b) * H;
            const real *restrict hp = t ? out + ((t - 1) * B + b) * H : zero + b * H;
            real *restrict di = d_in + (t * B + b) * G, *restrict dg = d_hid + (t * B + b) * G;
            real *restrict dhb = dh + b * H;
#pragma GCC ivdep
            for (int64_t j = 0; j < H; j++) {
                const real dt = g[j] + dhb[j];
                const real dn = dt * (1 - z[j]) * (1 - n[j] * n[j]);
                const real dr = dn * nh[j] * r[j] * (1 - r[j]);
                const real dz = dt * (hp[j] - n[j]) * z[j] * (1 - z[j]);
                di[j] = dg[j] = dr;
                di[H + j] = dg[H + j] = dz;
                di[2 * H + j] = dn;
                dg[2 * H + j] = dn * r[j];
                dhb[j] = dt * z[j]; /* h_{t-1}'s direct path; W_hh's is added below */
            }
        }
        bias_grad(db_ih, d_in + t * B * G, B, G);
        bias_grad(db_hh, d_hid + t * B * G, B, G);
        gemm(dh, d_hid + t * B * G, G, w_hh, 0, B, G, H);
    }
}

/* ---- LSTM, as torch (gates i, f, g, o): c_t = f c_{t-1} + i g, h_t = o tanh(c_t) -------- */
/* act (T, B, 4H): i, f, g, o; cell (T, B, H): c_t; bias = b_ih + b_hh; work: (I + H) 4H */
void lstm_forward(const real *restrict x, const real *restrict w_ih, const real *restrict w_hh,
                  const real *restrict bias, real *restrict out, real *restrict act,
                  real *restrict cell, real *restrict work, int64_t T, int64_t B, int64_t I,
                  int64_t H) {
    const int64_t G = 4 * H;
    transpose(work, w_ih, G, I);
    transpose(work + I * G, w_hh, G, H);
    for (int64_t t = 0; t < T; t++) {
        real *restrict a = act + t * B * G;
        gates(a, x, t ? out + (t - 1) * B * H : 0, work, bias, t, B, I, H, G);
        for (int64_t b = 0; b < B; b++) {
            real *restrict ab = a + b * G, *restrict c = cell + (t * B + b) * H;
            real *restrict h = out + (t * B + b) * H;
            for (int64_t j = 0; j < 2 * H; j++) ab[j] = sigmoid_(ab[j]);
            for (int64_t j = 2 * H; j < 3 * H; j++) ab[j] = tanh_(ab[j]);
            for (int64_t j = 3 * H; j < 4 * H; j++) ab[j] = sigmoid_(ab[j]);
            const real *restrict i_ = ab, *restrict f = ab + H, *restrict g = ab + 2 * H;
            const real *restrict o = ab + 3 * H;
            if (t) {
                const real *restrict cp = cell + ((t - 1) * B + b) * H;
                for (int64_t j = 0; j < H; j++) c[j] = f[j] * cp[j] + i_[j] * g[j];
            } else {
                for (int64_t j = 0; j < H; j++) c[j] = i_[j] * g[j];
            }
            for (int64_t j = 0; j < H; j++) h[j] = o[j] * tanh_(c[j]);
        }
    }
}

/* Writes d (T, B, 4H), the gradient by each step's gate pre-activations, and adds its sum to
 * db; work: 3 B H */
void lstm_backward(const real *restrict grad, const real *restrict act, const real *restrict cell,
                   const real *restrict w_hh, real *restrict d, real *restrict db,
                   real *restrict work, int64_t T, int64_t B, int64_t H) {
    const int64_t G = 4 * H;
    real *restrict dh = work, *restrict dc = work + B * H, *restrict zero = work + 2 * B * H;
    memset(work, 0, sizeof(real) * 3 * B * H);
    for (int64_t t = T - 1; t >= 0; t--) {
        real *restrict dt = d + t * B * G;
        for (int64_t b = 0; b < B; b++) {
            const real *restrict ab = act + (t * B + b) * G, *restrict c = cell + (t * B + b) * H;
            const real *restrict i_ = ab, *restrict f = ab + H, *restrict g = ab + 2 * H;
            const real *restrict o = ab + 3 * H;
            const real *restrict cp = t ? cell + ((t - 1) * B + b) * H : zero + b * H;
            const real *restrict gr = grad + (t * B + b) * H;
            real *restrict db_ = dt + b * G, *restrict dhb = dh + b * H, *restrict dcb = dc + b * H;
#pragma GCC ivdep
            for (int64_t j = 0; j < H; j++) {
                const real tc = tanh_(c[j]);
                const real dht = gr[j] + dhb[j];
                const real dct = dcb[j] + dht * o[j] * (1 - tc * tc);
                db_[j] = dct * g[j] * i_[j] * (1 - i_[j]);
                db_[H + j] = dct * cp[j] * f[j] * (1 - f[j]);
                db_[2 * H + j] = dct * i_[j] * (1 - g[j] * g[j]);
                db_[3 * H + j] = dht * tc * o[j] * (1 - o[j]);
                dcb[j] = dct * f[j];
                dhb[j] = 0;
            }
        }
        bias_grad(db, dt, B, G);
        gemm(dh, dt, G, w_hh, 0, B, G, H);
    }
}

/* ---- the optimiser ---------------------------------------------------------------------- */
/* Clip the joint 2-norm of the gradient g (n) to max_norm (as torch.nn.utils.clip_grad_norm_:
 * g *= min(1, max_norm / (norm + 1e-6)); max_norm <= 0: no clipping), then one Adam step
 * (Kingma and Ba 2015, Algorithm 1, as torch.optim.Adam computes it): m and v are the moving
 * averages, step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t). */
void adam_step(real *restrict p, real *restrict g, real *restrict m, real *restrict v, int64_t n,
               double step_size, double bc2_sqrt, double beta1, double beta2, double eps,
               double max_norm) {
    if (max_norm > 0) {
        double sq = 0;
        for (int64_t i = 0; i < n; i++) sq += (double)g[i] * g[i];
        double coef = max_norm / ((double)(real)sqrt(sq) + 1e-6);
        const real c = (real)(coef < 1 ? coef : 1);
        for (int64_t i = 0; i < n; i++) g[i] *= c;
    }
    const real w1 = (real)(1 - beta1), b2 = (real)beta2, w2 = (real)(1 - beta2);
    const real s = (real)step_size, bc = (real)bc2_sqrt, e = (real)eps;
    for (int64_t i = 0; i < n; i++) {
        m[i] += w1 * (g[i] - m[i]);
        v[i] = v[i] * b2 + w2 * g[i] * g[i];
        p[i] -= s * m[i] / (sqrt_(v[i]) / bc + e);
    }
}
