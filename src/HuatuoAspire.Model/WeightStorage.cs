namespace HuatuoAspire.Model;

/// <summary>
/// How the matrices of a model are held in memory, independent of the dtype it computes in: as that dtype
/// (<see cref="Compute"/>), as bfloat16 (the checkpoints' own dtype, half of fp32's bytes), or as int8 with one scale per
/// 32 weights of a row (<see cref="Int8"/>, llama.cpp's Q8_0 blocks, quantized at load). Norms and biases stay in the
/// compute dtype. bf16 and int8 matrices are CPU inference weights: they carry no gradient.
/// </summary>
public enum WeightStorage { Compute, BFloat16, Int8 }
