namespace Rose.Modeling;

/// <summary>Sees the input of every linear group while a layer runs forward: the pruning
/// pipeline folds these into Hessians. <paramref name="x"/> is tokens × cols, row-major.</summary>
public interface ILinearInputObserver
{
    void Observe(LinearInputGroup group, ReadOnlySpan<float> x, int tokens, int cols);
}
