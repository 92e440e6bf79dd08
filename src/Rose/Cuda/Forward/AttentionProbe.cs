using Rose.SafeTensors;

namespace Rose.Cuda.Forward;

/// <summary>How the tensor-core attention kernel compared with the fp32 one on this device
/// (<see cref="ForwardKernels.ProbeTensorCores"/>): the largest difference of an output, and the
/// most that rounding the probabilities to <paramref name="DType"/> explains.</summary>
public sealed record AttentionProbe(DType DType, int HeadDim, double MaxDifference, double Tolerance)
{
    public bool Agrees => MaxDifference <= Tolerance;
}
