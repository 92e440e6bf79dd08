namespace Rose.Pruning;

/// <summary>A weight matrix that already lives on the pruning backend in the model's dtype (the
/// layer a device runner just ran its calibration forward with): the pruner works on an fp32 copy
/// made there and stores the result back, so the matrix does not travel to the device and back in
/// fp32, and the next forward finds the pruned layer where it is.</summary>
public interface IResidentWeight
{
    /// <summary>A new fp32 working copy on the backend; the caller disposes it.</summary>
    BackendMatrix Checkout();

    /// <summary>Stores <paramref name="pruned"/> in the resident copy, rounded to the model's dtype,
    /// and fills <paramref name="host"/> with the values as stored there (what a checkpoint of that
    /// dtype holds).</summary>
    void Commit(BackendMatrix pruned, Span<float> host);
}
