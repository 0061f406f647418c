// Kernels of the CUDA training device, compiled at run time by NVRTC: the
// primitives of trainer/src/engine/ops.rs that are not matrix products (those
// go to cuBLAS). Layouts as the graph uses them (trainer/src/engine/graph.rs):
// row-major matrices, time-major rows (row = t * batch + b), gates stored z, r, n.

// Uniform draw in [0, 1) of element `i` of dropout stream `stream`; the CPU
// backend computes the same function (cpu::dropout_uniform), so both draw the
// same masks.
__device__ float dropout_uniform(unsigned long long seed, unsigned long long stream, unsigned long long i) {
    unsigned long long x = seed ^ (stream * 0x9E3779B97F4A7C15ULL) ^ (i * 0xD1B54A32D192ED03ULL);
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
    return (float)(x >> 40) * (1.0f / 16777216.0f);
}

// mask[i] = 0 with probability p, else 1 / (1 - p); element i is draw first + i of the stream.
extern "C" __global__ void dropout_mask(float* mask, int n, float p, unsigned long long seed, unsigned long long stream,
                                        unsigned long long first) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    mask[i] = (p <= 0.0f) ? 1.0f : (dropout_uniform(seed, stream, first + (unsigned long long)i) < p ? 0.0f : 1.0f / (1.0f - p));
}

// x[i] = value.
extern "C" __global__ void fill(float* x, int n, float value) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = value;
}

// out[r, c] = x[r, c] * mask[r % batch, c].
extern "C" __global__ void mask_rows(const float* x, const float* mask, float* out, int rows, int cols, int batch) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= rows * cols) return;
    int row = idx / cols, c = idx % cols;
    out[idx] = x[idx] * mask[(row % batch) * cols + c];
}

// xe[row, :] = emb[ids[row], :] * mask_x[b, :], ids time-major.
extern "C" __global__ void embed_forward(const unsigned int* ids, const float* emb, const float* mask_x, float* xe, int rows, int batch, int e) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= rows * e) return;
    int row = idx / e, i = idx % e, b = row % batch;
    xe[idx] = emb[(size_t)ids[row] * e + i] * mask_x[b * e + i];
}

// demb[ids[row], :] += dxe[row, :] * mask_x[b, :].
extern "C" __global__ void embed_backward(const unsigned int* ids, const float* dxe, const float* mask_x, float* demb, int rows, int batch, int e) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= rows * e) return;
    int row = idx / e, i = idx % e, b = row % batch;
    atomicAdd(&demb[(size_t)ids[row] * e + i], dxe[idx] * mask_x[b * e + i]);
}

// Activations: 0 linear, 1 relu, 2 tanh, 3 sigmoid.
__device__ float activate(float v, int act) {
    switch (act) {
        case 1: return fmaxf(v, 0.0f);
        case 2: return tanhf(v);
        case 3: return 1.0f / (1.0f + expf(-v));
        default: return v;
    }
}

// x[r, c] = act(x[r, c] + bias[c]).
extern "C" __global__ void bias_act(float* x, const float* bias, int rows, int cols, int act) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= rows * cols) return;
    x[idx] = activate(x[idx] + bias[idx % cols], act);
}

// dy *= act'(y), written in terms of the output y.
extern "C" __global__ void act_grad(float* dy, const float* y, int n, int act) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v = y[i];
    switch (act) {
        case 1: if (v <= 0.0f) dy[i] = 0.0f; break;
        case 2: dy[i] *= 1.0f - v * v; break;
        case 3: dy[i] *= v * (1.0f - v); break;
        default: break;
    }
}

// One GRU step for the batch. gx: input projection with bias; gh: U h_d
// without bias (the kernel adds bu and stores the sum back, the backward pass
// needs it). Writes the gates, h_t and the dropped state for the next step.
extern "C" __global__ void gru_forward_step(const float* gx, float* gh, const float* bu, const float* hp, const float* mask_h,
                                            float* gates, float* hn, float* hd_next, int batch, int h) {
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= batch * h) return;
    int b = idx / h, i = idx % h;
    size_t j = (size_t)b * 3 * h;
    float ghz = gh[j + i] + bu[i], ghr = gh[j + h + i] + bu[h + i], ghn = gh[j + 2 * h + i] + bu[2 * h + i];
    gh[j + i] = ghz;
    gh[j + h + i] = ghr;
    gh[j + 2 * h + i] = ghn;
    float z = 1.0f / (1.0f + expf(-(gx[j + i] + ghz)));
    float r = 1.0f / (1.0f + expf(-(gx[j + h + i] + ghr)));
    float n = tanhf(gx[j + 2 * h + i] + r * ghn);
    gates[j + i] = z;
    gates[j + h + i] = r;
    gates[j + 2 * h + i] = n;
    float out = (1.0f - z) * n + z * hp[idx];
    hn[idx] = out;
    if (hd_next) hd_next[idx] = out * mask_h[idx];
}

// Softmax cross-entropy, one block per row, weighted by weights[row] (1 when
// weights is null; a zero weight skips the row and zeroes its gradient).
// Logits become d(loss)/d(logits) * weight * scale; stats[0] += weight * row
// loss, stats[1] += weight when argmax == target. Needs blockDim.x a power of
// two and 2 * blockDim.x floats of shared memory.
extern "C" __global__ void softmax_xent(float* logits, const unsigned int* targets, const float* weights, int rows, int v, float scale,
                                        double* stats) {
    extern __shared__ float sh[];
    float* val = sh;
    int* arg = (int*)(sh + blockDim.x);
    int row = blockIdx.x;
    if (row >= rows) return;
    float* x = logits + (size_t)row * v;
    float w = weights ? weights[row] : 1.0f;
    if (w == 0.0f) {
        for (int i = threadIdx.x; i < v; i += blockDim.x) x[i] = 0.0f;
        return;
    }
    float best = __int_as_float(0xff800000);
    int besti = 0;
    for (int i = threadIdx.x; i < v; i += blockDim.x) {
        if (x[i] > best) { best = x[i]; besti = i; }
    }
    val[threadIdx.x] = best;
    arg[threadIdx.x] = besti;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float o = val[threadIdx.x + s];
            int oi = arg[threadIdx.x + s];
            if (o > val[threadIdx.x] || (o == val[threadIdx.x] && oi < arg[threadIdx.x])) { val[threadIdx.x] = o; arg[threadIdx.x] = oi; }
        }
        __syncthreads();
    }
    float mx = val[0];
    int am = arg[0];
    __syncthreads();
    float sum = 0.0f;
    for (int i = threadIdx.x; i < v; i += blockDim.x) {
        float ex = expf(x[i] - mx);
        x[i] = ex;
        sum += ex;
    }
    val[threadIdx.x] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) val[threadIdx.x] += val[threadIdx.x + s];
        __syncthreads();
    }
    float total = val[0];
    unsigned int t = targets[row];
    __syncthreads();
    if (threadIdx.x == 0) {
        atomicAdd(&stats[0], (double)w * ((double)logf(total) - (double)logf(x[t])));
        if ((unsigned int)am == t) atomicAdd(&stats[1], (double)w);
    }
    __syncthreads();
    float gs = w * scale;
    for (int i = threadIdx.x; i < v; i += blockDim.x) {
        float g = x[i] / total * gs;
        x[i] = (i == (int)t) ? g - gs : g;
    }
}

// Squared error 0.5 |out - target|^2 per element, weighted by its row's
// weight (1 when weights is null); out becomes (out - target) * weight * scale.
// stats[0] += the weighted loss (blockDim.x must be 256).
extern "C" __global__ void squared_error(float* out, const float* targets, const float* weights, int rows, int cols, float scale,
                                         double* stats) {
    __shared__ double part[256];
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    double loss = 0.0;
    if (idx < rows * cols) {
        float w = weights ? weights[idx / cols] : 1.0f;
        float d = out[idx] - targets[idx];
        loss = (double)w * 0.5 * (double)d * (double)d;
        out[idx] = d * w * scale;
    }
    part[threadIdx.x] = loss;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(&stats[0], part[0]);
}

// One step of back-propagation through time. dh = dhs + carry + rec * mask_h
// (rec = dgh_{t+1} U from the later step, zero at the last step); writes the
// gate gradients and carry = dh * z.
extern "C" __global__ void gru_backward_step(const float* gates, const float* gh, const float* hp, const float* dhs, float* carry,
                                             const float* rec, const float* mask_h, float* dgx, float* dgh, int batch, int h) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= batch * h) return;
    int b = k / h, i = k % h;
    size_t j = (size_t)b * 3 * h;
    float z = gates[j + i], r = gates[j + h + i], n = gates[j + 2 * h + i];
    float dh = dhs[k] + carry[k] + rec[k] * mask_h[k];
    float dn = dh * (1.0f - z);
    float dz = dh * (hp[k] - n);
    float dan = dn * (1.0f - n * n);
    float daz = dz * z * (1.0f - z);
    float dar = dan * gh[j + 2 * h + i] * r * (1.0f - r);
    dgx[j + i] = daz;
    dgx[j + h + i] = dar;
    dgx[j + 2 * h + i] = dan;
    dgh[j + i] = daz;
    dgh[j + h + i] = dar;
    dgh[j + 2 * h + i] = dan * r;
    carry[k] = dh * z;
}

// L1/L2 penalty on a kernel: g += l1 * sign(w) + 2 l2 w; acc[0] += penalty
// (summed per block first; blockDim.x must be 256).
extern "C" __global__ void penalty(const float* w, float* g, int n, float l1, float l2, double* acc) {
    __shared__ double part[256];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    double p = 0.0;
    if (i < n) {
        float x = w[i];
        float s = (x > 0.0f) ? 1.0f : ((x < 0.0f) ? -1.0f : 0.0f);
        g[i] += l1 * s + 2.0f * l2 * x;
        p = (double)l1 * fabs((double)x) + (double)l2 * (double)x * (double)x;
    }
    part[threadIdx.x] = p;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) part[threadIdx.x] += part[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(acc, part[0]);
}

// acc[0] += sum of g^2 (the global gradient norm, squared).
extern "C" __global__ void sum_squares(const float* g, int n, double* acc) {
    __shared__ double part[256];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    double x = (i < n) ? (double)g[i] : 0.0;
    part[threadIdx.x] = x * x;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) atomicAdd(acc, part[0]);
}

// Adam with bias correction; the gradient is first scaled by `scale` (clipping);
// weights whose mask is 0 stay 0 (mask may be null).
extern "C" __global__ void adam(float* p, const float* g, float* m, float* v, const float* mask, int n, float lr, float beta1, float beta2,
                                float eps, float bc1, float bc2, float scale) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float gi = g[i] * scale;
    float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float w = p[i] - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    p[i] = (mask && mask[i] == 0.0f) ? 0.0f : w;
}

// SGD with momentum, same clipping and mask rules as adam.
extern "C" __global__ void sgd(float* p, const float* g, float* m, const float* mask, int n, float lr, float momentum, float scale) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float mi = momentum * m[i] + g[i] * scale;
    m[i] = mi;
    float w = p[i] - lr * mi;
    p[i] = (mask && mask[i] == 0.0f) ? 0.0f : w;
}

// Reduced-precision copies of GEMM operands (f32 accumulation stays in
// cuBLAS), as raw 16-bit patterns: no headers needed.
extern "C" __global__ void to_f16(const float* x, unsigned short* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned short r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(x[i]));
    y[i] = r;
}

// bfloat16, round to nearest even; NaN stays a quiet NaN.
extern "C" __global__ void to_bf16(const float* x, unsigned short* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned int u = __float_as_uint(x[i]);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        y[i] = (unsigned short)((u >> 16) | 0x40u);
        return;
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    y[i] = (unsigned short)(u >> 16);
}
