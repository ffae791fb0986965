""" Typed configs: what the package takes instead of argparse namespaces.

The scripts' command lines become these once (`timm_ml.cli.configs`), checked there; every function below the top
layer takes a config or plain values, never `args`. Field names are the flags' dest names, so a config reads as the
command line that made it. Only the standard library is imported: every layer may take a config.
"""
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Dict, Optional, Tuple

# label-parsing options a checkpoint records and validate.py / infer.py reuse unless given again
LABEL_OPTIONS = ('label_format', 'label_delimiter', 'path_column', 'labels_column', 'unknown_values',
                 'attribute_columns', 'tree_columns', 'image_dir', 'split_seed', 'split_fractions', 'allow_outside_root',
                 'value_map', 'uncertain', 'top_classes')


@dataclass(frozen=True)
class LabelsConfig:
    """ How a run reads its labels.

    Args:
        root: The data root (positional `data` / --data-dir).
        dataset: timm's --dataset prefix for streamed sources ('wds/...', 'hfds/...', 'hfids/...'), '' for files.
        train_split / val_split: Split names (val_split '' or None: no evaluation split).
        label_format: A registered reader name, None for recognition.
        label_delimiter, path_column, labels_column, unknown_values, attribute_columns, tree_columns, image_dir,
        split_seed, split_fractions: The reader options (`--label-delimiter` ...).
        allow_outside_root: Image paths of a label file may be absolute or climb above its image root.
        value_map / uncertain: What value-coded cells mean ('1=pos,0=neg,-1=unk') and how uncertain ones are read
            ('ignore', 'positive', 'negative'); None: the format's declared meanings.
        top_classes: Keep the N most frequent names as the classes (Visual Genome; None: the format's default).
        features: A feature cache (`python -m timm_ml.features`) to train on instead of the images.
        class_map: A class list file fixing the class order.
        bad_images: 'error' or 'skip'. verify_images: None, 'none', 'header' or 'full'.
        simulate_partial: 'rps:P' / 'fpc:N', hiding training annotations (seeded by `seed`).
        seed: Seed of the partial-label simulation.
        input_key, target_key, trust_remote_code: Hugging Face dataset options.
    """
    root: Optional[str] = None
    dataset: str = ''
    train_split: str = 'train'
    val_split: Optional[str] = 'validation'
    label_format: Optional[str] = None
    label_delimiter: Optional[str] = None
    unknown_values: Optional[Tuple[str, ...]] = None
    image_dir: Optional[str] = None
    path_column: Optional[str] = None
    labels_column: Optional[str] = None
    attribute_columns: Optional[Tuple[str, ...]] = None
    tree_columns: Optional[Tuple[str, ...]] = None
    split_seed: Optional[int] = None
    split_fractions: Optional[Tuple[float, float, float]] = None
    allow_outside_root: Optional[bool] = None
    value_map: Optional[str] = None
    uncertain: Optional[str] = None
    top_classes: Optional[int] = None
    class_map: str = ''
    bad_images: str = 'error'
    verify_images: Optional[str] = None
    simulate_partial: Optional[str] = None
    seed: int = 42
    input_key: Optional[str] = None
    target_key: Optional[str] = None
    trust_remote_code: bool = False
    features: Optional[str] = None

    def options(self) -> Dict[str, Any]:
        """The label-parsing options (LABEL_OPTIONS) as a dict, as a checkpoint records them."""
        return {k: getattr(self, k) for k in LABEL_OPTIONS}

    def with_saved(self, saved: Dict[str, Any]) -> 'LabelsConfig':
        """These options, each one not given taken from `saved` (what a checkpoint's training used)."""
        filled = {k: saved.get(k) for k in LABEL_OPTIONS if getattr(self, k) is None and saved.get(k) is not None}
        for k in ('unknown_values', 'attribute_columns', 'tree_columns', 'split_fractions'):
            if isinstance(filled.get(k), list):
                filled[k] = tuple(filled[k])
        if not self.dataset and saved.get('dataset'):
            filled['dataset'] = saved['dataset']
        return replace(self, **filled)


@dataclass(frozen=True)
class HeadConfig:
    """ The multi-label head.

    Args:
        ml_head: One of timm_ml.models.ML_HEADS; None: from the labels (group heads for exclusive groups).
        mld_groups, mld_dim, mld_heads, mld_ff, mld_dropout: ML-Decoder options.
        cosine_scale: Cosine head scale s (None: the AAM scale).
        label_embeddings: gcn / ssgrl label-embedding file. label_embed_dim: Width of learned embeddings.
        gcn_variant, gcn_hidden_dim, gcn_tau, gcn_rho: ML-GCN options. ssgrl_steps, ssgrl_attention_dim,
        ssgrl_graph_dim: SSGRL options.
        head_lr_scale: Head learning rate relative to --lr (None: the head recipe).
    """
    ml_head: Optional[str] = None
    mld_groups: int = 100
    mld_dim: int = 768
    mld_heads: int = 8
    mld_ff: int = 2048
    mld_dropout: float = 0.1
    cosine_scale: Optional[float] = None
    label_embeddings: Optional[str] = None
    label_embed_dim: int = 300
    gcn_variant: str = 'paper'
    gcn_hidden_dim: int = 1024
    gcn_tau: float = 0.4
    gcn_rho: float = 0.25
    ssgrl_steps: int = 3
    ssgrl_attention_dim: int = 1024
    ssgrl_graph_dim: Optional[int] = None
    head_lr_scale: Optional[float] = None

    def head_args(self, ml_head: str, aam_s: float = 23.) -> Dict[str, Any]:
        """The head module's options for `ml_head` (empty for timm's own classifier)."""
        if ml_head == 'mldecoder':
            return dict(num_groups=self.mld_groups, embed_dim=self.mld_dim, num_heads=self.mld_heads,
                        dim_feedforward=self.mld_ff, dropout=self.mld_dropout)
        if ml_head == 'cosine':
            return dict(scale=self.cosine_scale if self.cosine_scale is not None else aam_s)
        if ml_head == 'gcn':
            return dict(embed_dim=self.label_embed_dim, hidden_dim=self.gcn_hidden_dim, tau=self.gcn_tau,
                        rho=self.gcn_rho, variant=self.gcn_variant)
        if ml_head == 'ssgrl':
            return dict(embed_dim=self.label_embed_dim, attention_dim=self.ssgrl_attention_dim,
                        graph_dim=self.ssgrl_graph_dim, time_steps=self.ssgrl_steps)
        return {}


@dataclass(frozen=True)
class LossConfig:
    """ The loss: --loss and its options (None: the head's recipe / the loss's own default).

    Args:
        loss: bce | asl | aam | csl | ce | poly | twoway | zlpr | db; None: the head recipe.
        gamma_pos, gamma_neg, clip: Focusing and probability shift. gamma_unann: CSL unknown focusing.
        loss_reduction: asl / csl / ce reduction.
        partial_loss_mode, likelihood_topk, prior_threshold, prior_path: CSL options.
        aam_s, aam_m, aam_k: AAM scale, margin, positive weight.
        smoothing: Label smoothing (towards 0.5 for sigmoids, within each group for ce).
        bce_sum, bce_target_thresh, bce_pos_weight: timm's BCE options.
    """
    loss: Optional[str] = None
    gamma_pos: Optional[float] = None
    gamma_neg: Optional[float] = None
    gamma_unann: float = 2.
    clip: Optional[float] = None
    loss_reduction: Optional[str] = None
    partial_loss_mode: str = 'negative'
    likelihood_topk: int = 5
    prior_threshold: float = 0.05
    prior_path: Optional[str] = None
    aam_s: float = 23.
    aam_m: float = 0.
    aam_k: float = 0.7
    smoothing: float = 0.
    bce_sum: bool = False
    bce_target_thresh: Optional[float] = None
    bce_pos_weight: Optional[float] = None

    def loss_kwargs(self, evaluation: bool = False) -> Dict[str, Any]:
        """create_ml_loss keyword arguments. evaluation: the loss reported on validation data, where CSL scores unknowns
        as ignored (no selective or prior-based weighting, which depend on the training batch)."""
        kwargs = dict(gamma_pos=self.gamma_pos, gamma_neg=self.gamma_neg, gamma_unann=self.gamma_unann, clip=self.clip,
                      partial_loss_mode=self.partial_loss_mode, likelihood_topk=self.likelihood_topk,
                      prior_threshold=self.prior_threshold, prior_path=self.prior_path, aam_s=self.aam_s,
                      aam_m=self.aam_m, aam_k=self.aam_k, bce_sum=self.bce_sum,
                      bce_target_thresh=self.bce_target_thresh, bce_pos_weight=self.bce_pos_weight,
                      reduction=self.loss_reduction)
        if evaluation:
            kwargs.update(partial_loss_mode='ignore', prior_path=None)
        return kwargs

    def settings(self) -> Dict[str, Any]:
        """The options given (not None): another reduction or gamma writes train_loss / eval_loss on another scale."""
        return {k: v for k, v in sorted(self.loss_kwargs().items()) if v is not None}


@dataclass(frozen=True)
class EvalConfig:
    """ Evaluation.

    Args:
        threshold: Probability threshold of the F1 metrics (a checkpoint's evaluation: None uses its per-class
            thresholds, else 0.5). topk: k of the top-k metrics.
        eval_metric: The best-checkpoint metric (None: the headline metric of the labels).
        tta: 2 averages each image with its horizontal flip; 0 / 1 none.
    """
    threshold: Optional[float] = 0.5
    topk: int = 3
    eval_metric: Optional[str] = None
    tta: int = 0


@dataclass(frozen=True)
class SamplerConfig:
    """ The training sampler: 'uniform' (timm's) or 'balanced' (rare classes oversampled: image weight = (largest /
    rarest class count) ** power, capped at `cap`)."""
    sampler: str = 'uniform'
    sampler_power: float = 1.0
    sampler_cap: float = 10.0


@dataclass(frozen=True)
class DistillConfig:
    """ Knowledge distillation (timm's --kd-* flags with a multi-label meaning) and teacher-filled unknowns.

    Args:
        kd_checkpoint: A timm_ml checkpoint as the teacher (any head; its classes matched to the student's by name).
        kd_model_name: A stock timm model as the teacher (timm's --kd-model-name); its outputs named by kd_class_map.
        kd_pretrained_path: Local weights of the stock timm teacher (nothing downloads).
        kd_class_map: A text file naming the stock teacher's outputs in order, one name a line.
        kd_teacher_activation: How the stock teacher's outputs become probabilities: 'sigmoid' or 'softmax'.
        kd_distill_type: 'logit' (per-class sigmoid / per-group softmax distillation) or 'feature' (timm's pooled
            feature MSE).
        kd_temperature: Logit temperature T (loss scaled by T^2, as timm's).
        kd_student_feature_dim / kd_teacher_feature_dim: Feature widths (None: detected, as timm's).
        distill_loss_weight / task_loss_weight: timm's weighting modes (None: timm's defaults).
        fill_unknown: 'none', 'teacher' (unknown targets take the teacher's probabilities) or 'teacher-hard' (its
            decisions at its thresholds).
    """
    kd_checkpoint: Optional[str] = None
    kd_model_name: Optional[str] = None
    kd_pretrained_path: Optional[str] = None
    kd_class_map: Optional[str] = None
    kd_teacher_activation: str = 'sigmoid'
    kd_distill_type: str = 'logit'
    kd_temperature: float = 1.0
    kd_student_feature_dim: Optional[int] = None
    kd_teacher_feature_dim: Optional[int] = None
    distill_loss_weight: Optional[float] = None
    task_loss_weight: Optional[float] = None
    fill_unknown: str = 'none'

    @property
    def active(self) -> bool:
        return bool(self.kd_checkpoint or self.kd_model_name)

    def settings(self) -> Dict[str, Any]:
        """What changes train_loss's meaning (compared on an in-place resume)."""
        return asdict(self) if self.active else {}


@dataclass(frozen=True)
class TrainConfig:
    """ Everything multi-label a training run is built from (timm's own options stay timm's).

    Args:
        labels, head, loss, eval, sampler, distill: The parts above.
        gc / gc_conv_only: Gradient centralization (weights with ndim > 1 / conv kernels only).
        estimate_prior: Write CSL's class prior after training.
        early_stop_patience / early_stop_min_delta: Early stopping on the eval metric (0: off).
        log_tensorboard: TensorBoard events beside summary.csv.
    """
    labels: LabelsConfig = field(default_factory=LabelsConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    gc: bool = False
    gc_conv_only: bool = False
    estimate_prior: bool = False
    early_stop_patience: int = 0
    early_stop_min_delta: float = 0.
    log_tensorboard: bool = False

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckpointConfig:
    """ A trained model and how to read data for it (validate.py, infer.py): every option not given is the
    checkpoint's own.

    Args:
        checkpoint: The timm_ml checkpoint file.
        labels: Label-reading options given on this command line (None fields: the checkpoint's); labels.root and
            labels.val_split: the data root and split to read (None: the checkpoint's root and validation split).
        eval: threshold (None: the checkpoint's per-class thresholds, else 0.5), topk.
        thresholds: A per-class threshold file (.npy / .csv) overriding the checkpoint's.
        use_ema: Load the EMA weights when the checkpoint has them. require_ema: An error when it has none.
        model: The model name asked for (checked against the checkpoint's), None: the checkpoint's.
        num_classes / in_chans: Checked against the checkpoint when given.
        class_map: A class list file, which must equal the checkpoint's classes.
        timm_kwargs: Overrides of the stored timm.create_model arguments (--gp, --model-kwargs).
    """
    checkpoint: str
    labels: LabelsConfig = field(default_factory=lambda: LabelsConfig(val_split=None))
    eval: EvalConfig = field(default_factory=EvalConfig)
    thresholds: Optional[str] = None
    use_ema: bool = True
    require_ema: bool = False
    model: Optional[str] = None
    num_classes: Optional[int] = None
    in_chans: Optional[int] = None
    timm_kwargs: Dict[str, Any] = field(default_factory=dict)


def label_options(values) -> Dict[str, Any]:
    """The LABEL_OPTIONS of any object carrying them as attributes (a parsed command line): a missing one is an
    error, lists become tuples (the configs are frozen)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in ((k, getattr(values, k)) for k in LABEL_OPTIONS)}


def config_from(cls, values, **overrides):
    """A config of `cls` from any object carrying its field names as attributes (an argparse namespace): a field with
    no attribute is an error (no default hides a renamed flag)."""
    given = {}
    for f in fields(cls):
        if f.name in overrides:
            given[f.name] = overrides[f.name]
            continue
        value = getattr(values, f.name)
        given[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**given)
