using Rose.Modeling;

namespace Rose.Pipeline;

/// <summary>The pieces of one decoder layer's working set besides the activations, which both backends hold
/// while a layer prunes: its weights, the four input groups' fp32 statistics (H = cols² floats each), and the
/// pruning of the widest matrix (copies of the matrix and of the widest Hessian, one OBS block's errors and
/// keys).</summary>
public static class LayerWorkingSet
{
    /// <summary>Values in the layer's seven linears.</summary>
    public static long WeightElements(ModelShape s) =>
        (long)s.Hidden * (2L * s.QDim + 2L * s.KvDim) + 3L * s.Hidden * s.Intermediate;

    /// <summary>H and the two scale vectors of q/k/v's, o_proj's, gate/up's and down_proj's inputs.</summary>
    public static long StatisticsBytes(ModelShape s) =>
        ((long)s.Hidden * s.Hidden * 2 + (long)s.QDim * s.QDim + (long)s.Intermediate * s.Intermediate
         + 2L * (2 * s.Hidden + s.QDim + s.Intermediate)) * sizeof(float);

    /// <summary>The widest prune: <paramref name="matrixCopies"/> fp32 copies of the largest matrix (the
    /// weight, ROSE's scores and permuted weight), <paramref name="hessianCopies"/> of the widest Hessian
    /// (permuted or damped copy, the factor, the factorization's scratch) and two 128-column blocks.</summary>
    public static long PruningBytes(ModelShape s, int matrixCopies, int hessianCopies)
    {
        long matrix = Math.Max((long)s.Hidden * s.Intermediate, (long)s.Hidden * s.QDim);
        long rows = Math.Max(s.Intermediate, Math.Max(s.Hidden, s.QDim)), cols = rows;
        return (matrixCopies * matrix + hessianCopies * cols * cols + 2 * rows * 128) * sizeof(float);
    }
}
